//! The coverage-guided fuzzer's corpus (fuzz/corpus/checkpoint_reader: the
//! seeds and every input that ever found something), replayed on every
//! `cargo test` through what the fuzz target does: each file is a record or
//! an error naming the problem, and a record builds a model that runs.
//! A finding added to the corpus thus stays fixed without libFuzzer.

use std::path::Path;

use rnnpy_core::checkpoint::CheckpointRecord;
use rnnpy_core::nn::model::Batch;
use rnnpy_core::nn::Model;

#[test]
fn every_corpus_input_is_a_record_that_runs_or_an_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/checkpoint_reader");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("the fuzz corpus is in the repository") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        seen += 1;
        let Ok(rec) = CheckpointRecord::from_bytes(&data, &path) else { continue };
        let _ = rec.check_finite(&path);
        let model = Model::from_flat(rec.config.clone(), &rec.param_data)
            .unwrap_or_else(|e| panic!("{}: a validated record does not build: {e}", path.display()));
        let tokens = [0, rec.config.vocab_size as u32 - 1];
        model.logits(Batch { tokens: &tokens, b: 1, t: 2 }).unwrap();
    }
    assert!(seen >= 5, "only {seen} corpus files in {}", dir.display());
}
