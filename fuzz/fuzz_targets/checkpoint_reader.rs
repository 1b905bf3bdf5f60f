//! Any bytes as a checkpoint file: the reader returns a record or an error
//! naming the problem, and a record it accepts builds a model that runs.
//! A panic, an overflow (built with -Coverflow-checks), an allocation beyond
//! libFuzzer's -malloc_limit_mb, or a time-out is a finding.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rnnpy_core::checkpoint::CheckpointRecord;
use rnnpy_core::nn::model::Batch;
use rnnpy_core::nn::Model;

fuzz_target!(|data: &[u8]| {
    let Ok(rec) = CheckpointRecord::from_bytes(data, Path::new("fuzz.bin")) else { return };
    let _ = rec.check_finite(Path::new("fuzz.bin"));
    // What loading does next (rnnpy.load_checkpoint, then generation).
    let model = Model::from_flat(rec.config.clone(), &rec.param_data).expect("a validated record builds its model");
    let v = rec.config.vocab_size as u32;
    let tokens = [0, v - 1];
    model.logits(Batch { tokens: &tokens, b: 1, t: 2 }).expect("a validated model runs");
});
