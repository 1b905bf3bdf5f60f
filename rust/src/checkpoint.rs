//! The checkpoint file of `spec/CHECKPOINT.md`: the bincode 1.x encoding
//! (fixed-width little-endian integers, no header) of [`CheckpointRecord`].
//! Reading validates every size against the configuration and, unless asked
//! not to, that every weight is finite; writing checks the same, then goes
//! through [`atomic::write_atomic`] (a temporary beside the target, read back
//! before it is renamed over it), so a crash never destroys a checkpoint and
//! nothing is written that could not be read back.

use std::fs;
use std::path::Path;

use bincode::Options;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nn::ModelConfig;

pub mod atomic;
pub mod paths;

pub use atomic::write_atomic;

/// What the old program writes as `version`.
pub const FORMAT_VERSION: &str = "3.0-bin";

/// Field order is byte order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    pub version: String,
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`
    pub timestamp: String,
    /// Compact JSON with sorted keys; the old program reads `epoch`.
    pub metadata: Option<String>,
    pub optimizer_step: usize,
    pub config: ModelConfig,
    pub param_data: Vec<f32>,
    /// AdamW moments, same order as `param_data` (zeros when none were kept).
    pub param_m: Vec<f32>,
    pub param_v: Vec<f32>,
}

fn codec() -> impl Options {
    bincode::DefaultOptions::new().with_fixint_encoding().with_little_endian()
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::Checkpoint { path: path.display().to_string(), reason: reason.into() }
}

impl CheckpointRecord {
    /// The exact bytes of the file.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec().serialize(self).expect("a checkpoint record always serializes")
    }

    /// Decodes and validates; `path` only names the file in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        // The limit bounds every length prefix by the file size, so a foreign
        // file cannot make us allocate more than it holds.
        let mut rest = bytes;
        let rec: CheckpointRecord = codec()
            .with_limit(bytes.len() as u64)
            .deserialize_from(&mut rest)
            .map_err(|e| bad(path, format!("not a checkpoint, or truncated ({} bytes): {e}", bytes.len())))?;
        if !rest.is_empty() {
            return Err(bad(path, format!("{} unexpected bytes after the end of the checkpoint", rest.len())));
        }
        rec.validate(path)?;
        Ok(rec)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        self.config.validate().map_err(|e| bad(path, format!("{e}")))?;
        let c = &self.config;
        let n = c.num_params();
        let describe = format!(
            "vocab {}, embed {}, hidden {}, {} layer(s), {} expert(s), rwkv {}, fast mode {}",
            c.vocab_size, c.embed_size, c.hidden_size, c.num_layers, c.num_experts, c.use_rwkv, c.fast_mode
        );
        if self.param_data.len() != n {
            return Err(bad(
                path,
                format!("holds {} parameters but its configuration ({describe}) needs {n}", self.param_data.len()),
            ));
        }
        for (name, v) in [("first moments (param_m)", &self.param_m), ("second moments (param_v)", &self.param_v)] {
            if v.len() != n {
                return Err(bad(path, format!("holds {} optimizer {name}, expected {n}", v.len())));
            }
        }
        if let Some(m) = &self.metadata {
            // serde_json is strict: NaN and Infinity are not JSON, and nesting is bounded.
            serde_json::from_str::<serde_json::Value>(m)
                .map_err(|e| bad(path, format!("metadata is not valid JSON: {e}")))?;
        }
        Ok(())
    }

    /// `Err` naming the first non-finite value (a weight or an AdamW
    /// moment): what a diverged run leaves, which no model should be.
    pub fn check_finite(&self, path: &Path) -> Result<()> {
        let parts =
            [("weight", &self.param_data), ("first moment of", &self.param_m), ("second moment of", &self.param_v)];
        for (what, values) in parts {
            if let Some(i) = values.iter().position(|x| !x.is_finite()) {
                let bad_count = values.iter().filter(|x| !x.is_finite()).count();
                return Err(bad(
                    path,
                    format!(
                        "holds {bad_count} non-finite values ({what} {} is {}): the weights of a diverged run \
                         (pass allow_non_finite=True to use it anyway)",
                        self.config.param_name(i),
                        values[i]
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Reads and validates `path`, which must be a regular file (a FIFO would
    /// block forever). Non-finite weights are an error unless `allow_non_finite`.
    pub fn read(path: &Path, allow_non_finite: bool) -> Result<Self> {
        let meta = paths::readable_file(path, "cannot read").map_err(|e| match e {
            Error::Io { reason, .. } => bad(path, reason),
            other => other,
        })?;
        // The bytes and the decoded record are both held for a moment.
        crate::memory::ensure(2 * u128::from(meta.len()), || format!("loading checkpoint '{}'", path.display()))?;
        let bytes = fs::read(path).map_err(|e| bad(path, format!("cannot read: {}", paths::reason(&e))))?;
        let rec = Self::from_bytes(&bytes, path)?;
        if !allow_non_finite {
            rec.check_finite(path)?;
        }
        Ok(rec)
    }

    /// Validates this record as a reader would (sizes, metadata JSON and,
    /// unless `allow_non_finite`, finite values), then writes it atomically.
    pub fn write(&self, path: &Path, allow_non_finite: bool) -> Result<()> {
        self.validate(path)?;
        if !allow_non_finite {
            self.check_finite(path)?;
        }
        write_atomic(path, &self.to_bytes())
    }
}

/// Now as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), as the old program writes.
pub fn timestamp_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (secs, millis) = (now.as_secs() as i64, now.subsec_millis());
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> CheckpointRecord {
        let config = ModelConfig {
            vocab_size: 5,
            embed_size: 4,
            hidden_size: 4,
            num_layers: 1,
            fast_mode: true,
            use_rwkv: false,
            num_experts: 1,
            top_k: 0,
            num_heads: 2,
        };
        let n = config.num_params();
        CheckpointRecord {
            version: FORMAT_VERSION.into(),
            timestamp: timestamp_now(),
            metadata: Some("{\"epoch\":3}".into()),
            optimizer_step: 7,
            config,
            param_data: (0..n).map(|i| i as f32).collect(),
            param_m: vec![0.5; n],
            param_v: vec![0.25; n],
        }
    }

    #[test]
    fn layout_matches_the_spec() {
        let r = record();
        let bytes = r.to_bytes();
        let n = r.param_data.len();
        let meta = r.metadata.as_ref().unwrap().len();
        assert_eq!(bytes.len(), 15 + 32 + (9 + meta) + 8 + 58 + 3 * (8 + 4 * n));
        assert_eq!(&bytes[..15], b"\x07\0\0\0\0\0\0\x003.0-bin");
        assert_eq!(&bytes[15..23], &[24, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(CheckpointRecord::from_bytes(&bytes, Path::new("x")).unwrap(), r);
    }

    #[test]
    fn timestamp_shape() {
        let t = timestamp_now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T' && t.starts_with("20"));
    }

    #[test]
    fn truncated_and_foreign_files_are_errors() {
        let bytes = record().to_bytes();
        for cut in [0, 7, 30, 100, bytes.len() - 1] {
            let e = CheckpointRecord::from_bytes(&bytes[..cut], Path::new("m.bin")).unwrap_err();
            assert!(format!("{e}").contains("m.bin"), "{e}");
        }
        let e = CheckpointRecord::from_bytes(b"{\"hello\": \"json\"}", Path::new("f.json")).unwrap_err();
        assert!(format!("{e}").contains("not a checkpoint"), "{e}");
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(CheckpointRecord::from_bytes(&longer, Path::new("m.bin")).is_err());
    }

    #[test]
    fn size_mismatch_names_the_problem() {
        let mut r = record();
        r.param_data.pop();
        let e = CheckpointRecord::from_bytes(&r.to_bytes(), Path::new("m.bin")).unwrap_err();
        assert!(format!("{e}").contains("needs"), "{e}");
        let mut r = record();
        r.param_v.clear();
        assert!(CheckpointRecord::from_bytes(&r.to_bytes(), Path::new("m.bin")).is_err());
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("rnnpy-ckpt-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("model.bin");
        record().write(&p, false).unwrap();
        let mut r2 = record();
        r2.optimizer_step = 99;
        r2.write(&p, false).unwrap();
        assert_eq!(CheckpointRecord::read(&p, false).unwrap().optimizer_step, 99);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
