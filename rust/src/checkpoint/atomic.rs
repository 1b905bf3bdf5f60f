//! Atomic writes: the bytes go to a temporary file beside the target, are
//! synced, read back and compared, and only then renamed over it. A crash,
//! a kill or a full disk at any moment leaves the old file intact.
//!
//! Temporaries are named `.NAME.rnnpy-tmp-PID-SEQ` (unique per write, even
//! within one process) and stay locked (`flock`) while their writer lives,
//! so every write first removes the temporaries in its folder whose writer
//! is gone — a killed run leaves at most one behind, until the next save.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::paths::{folder_of, io_error, write_target};
use crate::error::{Error, Result};
use crate::interrupt;

const MARK: &str = ".rnnpy-tmp-";
/// Written and compared in pieces this large, checking for a second Ctrl-C between them.
const PIECE: usize = 8 << 20;
/// A temporary younger than this may belong to a writer that has created it
/// but not locked it yet: never swept.
const GRACE: Duration = Duration::from_secs(2);

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

pub fn next_sequence() -> u64 {
    SEQUENCE.fetch_add(1, Ordering::Relaxed)
}

/// Writes `bytes` to `path` atomically (see the module). The new file keeps
/// the permissions of the one it replaces; a new one gets the umask's.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let (target, existing) = write_target(path)?;
    let dir = folder_of(&target);
    sweep_stale(&dir);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}{MARK}{}-{}", std::process::id(), next_sequence()));
    let result = write_and_verify(&tmp, bytes, existing.as_ref()).and_then(|()| {
        interrupt::check_abort()?;
        fs::rename(&tmp, &target).map_err(|e| io_error(path, "cannot write", &e))
    });
    match result {
        Ok(()) => {
            // Make the rename itself durable; a folder that cannot be synced is no error.
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(match e {
                Error::Io { reason, .. } => Error::Io { path: path.display().to_string(), reason },
                other => other,
            })
        }
    }
}

fn write_and_verify(tmp: &Path, bytes: &[u8], existing: Option<&fs::Metadata>) -> Result<()> {
    let fail = |e: std::io::Error| io_error(tmp, "cannot write", &e);
    let mut f = fs::OpenOptions::new().read(true).write(true).create_new(true).open(tmp).map_err(fail)?;
    let _ = f.try_lock(); // held until `f` closes: the sweep of other writers leaves this file alone
    if let Some(meta) = existing {
        f.set_permissions(meta.permissions()).map_err(fail)?;
    }
    for piece in bytes.chunks(PIECE) {
        interrupt::check_abort()?;
        f.write_all(piece).map_err(fail)?;
    }
    f.sync_all().map_err(fail)?;
    // Read back what the disk holds before it may replace anything.
    f.seek(SeekFrom::Start(0)).map_err(fail)?;
    let mut buf = vec![0u8; PIECE.min(bytes.len()).max(1)];
    for piece in bytes.chunks(PIECE) {
        interrupt::check_abort()?;
        f.read_exact(&mut buf[..piece.len()]).map_err(fail)?;
        if buf[..piece.len()] != *piece {
            return Err(Error::Io {
                path: tmp.display().to_string(),
                reason: "cannot write: the file read back differs from what was written".into(),
            });
        }
    }
    if f.read(&mut buf).map_err(fail)? != 0 {
        return Err(Error::Io { path: tmp.display().to_string(), reason: "cannot write: the file is too long".into() });
    }
    Ok(())
}

/// Removes the temporaries in `dir` whose writer is gone: their lock is free
/// and either their process no longer exists or they are older than `GRACE`.
/// Also the temporaries of rnnpy 0.1.0 (`.NAME.tmp-PID`) whose process is gone.
pub fn sweep_stale(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if let Some(pid) = ours(&name) {
            if is_stale(&path, pid) {
                let _ = fs::remove_file(&path);
            }
        } else if let Some(pid) = legacy(&name) {
            if process_gone(pid) == Some(true) {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// The writer's pid of `.NAME.rnnpy-tmp-PID-SEQ`.
fn ours(name: &str) -> Option<u32> {
    let (_, tail) = name.rsplit_once(MARK)?;
    let (pid, seq) = tail.split_once('-')?;
    seq.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// The writer's pid of rnnpy 0.1.0's `.NAME.bin.tmp-PID`.
fn legacy(name: &str) -> Option<u32> {
    let (head, pid) = name.rsplit_once(".tmp-")?;
    if !head.ends_with(".bin") {
        return None;
    }
    pid.parse().ok()
}

fn is_stale(path: &PathBuf, pid: u32) -> bool {
    let Ok(f) = fs::OpenOptions::new().read(true).open(path) else { return false };
    let gone = process_gone(pid) == Some(true);
    match f.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return false, // its writer holds it
        Err(fs::TryLockError::Error(_)) => return gone,    // a file system without locks
    }
    let old = f
        .metadata()
        .ok()
        .and_then(|m| m.modified().ok())
        .is_some_and(|t| SystemTime::now().duration_since(t).unwrap_or_default() > GRACE);
    gone || old
}

/// `Some(true)` when no process `pid` exists (Linux: no `/proc/PID`), `None` when it cannot be told.
fn process_gone(pid: u32) -> Option<bool> {
    if !Path::new("/proc/self").exists() {
        return None;
    }
    Some(!Path::new(&format!("/proc/{pid}")).exists())
}
