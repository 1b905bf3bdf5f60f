//! The old program's golden checkpoints: our forward pass must give its logits.

use std::path::PathBuf;

use rnnpy_core::checkpoint::CheckpointRecord;
use rnnpy_core::nn::model::Batch;
use rnnpy_core::nn::Model;

/// The old program's checkpoints, which live beside the checkout (`../shared/golden`).
fn golden_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/golden");
    assert!(
        dir.is_dir(),
        "{} is missing: the golden checkpoints of the old program must sit beside the checkout, in \
         ../shared/golden (README, \"Development\")",
        dir.display()
    );
    dir
}

#[test]
fn golden_logits_and_loss() {
    let dir = golden_dir();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 3);
    for case in cases.iter().filter(|c| c.join("checkpoint.bin").exists()) {
        let rec = CheckpointRecord::read(&case.join("checkpoint.bin"), false).unwrap();
        let bytes = std::fs::read(case.join("checkpoint.bin")).unwrap();
        assert_eq!(rec.to_bytes(), bytes, "{case:?}: re-encoding must give identical bytes");
        let model = Model::from_flat(rec.config.clone(), &rec.param_data).unwrap();
        let exp: serde_json::Value =
            serde_json::from_slice(&std::fs::read(case.join("expected.json")).unwrap()).unwrap();
        let ids = |k: &str| exp[k].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect::<Vec<_>>();
        let (inputs, targets) = (ids("inputs"), ids("targets"));
        let t = inputs.len();
        let batch = Batch { tokens: &inputs, b: 1, t };
        let logits = model.logits(batch).unwrap();
        let tol = exp["logits_tolerance"].as_f64().unwrap();
        let mut worst = 0.0f64;
        for (r, row) in exp["logits"].as_array().unwrap().iter().enumerate() {
            for (c, v) in row.as_array().unwrap().iter().enumerate() {
                worst = worst.max((logits.data[r * logits.cols + c] as f64 - v.as_f64().unwrap()).abs());
            }
        }
        let (loss, _) = model.loss_and_grad(batch, &targets, false).unwrap();
        let want = exp["loss"].as_f64().unwrap();
        eprintln!("{case:?}: max |Δlogit| {worst:.3e} (tol {tol}), loss {loss} vs {want}");
        assert!(worst <= tol, "{case:?}: logits differ by {worst}");
        assert!((loss as f64 - want).abs() <= 1e-4, "{case:?}: loss {loss} vs {want}");
    }
}
