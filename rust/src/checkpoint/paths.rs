//! The files rnnpy reads and writes, checked the way a user names them:
//! symlinks are followed to the real file, anything but a regular file (a
//! folder, a device, a FIFO) is refused before any work, and every failure
//! is said in words about the user's path, never an errno.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// An I/O failure in words: "no space left on the device", not "(os error 28)".
pub fn reason(e: &io::Error) -> String {
    let words = match e.raw_os_error() {
        Some(1) | Some(13) => "permission denied",
        Some(2) => "no such file or folder",
        Some(5) => "an input/output error (the device failed)",
        Some(16) | Some(26) => "the file is busy",
        Some(20) => "a part of the path is not a folder",
        Some(21) => "it is a folder",
        Some(27) => "the file is too large for the file system",
        Some(28) => "no space left on the device",
        Some(30) => "the file system is read-only",
        Some(36) => "the name is too long",
        Some(40) => "too many levels of symbolic links",
        Some(122) => "the disk quota is exceeded",
        _ => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            return text.to_lowercase();
        }
    };
    words.to_string()
}

pub fn io_error(path: &Path, doing: &str, e: &io::Error) -> Error {
    Error::Io { path: path.display().to_string(), reason: format!("{doing}: {}", reason(e)) }
}

fn not_a_file(path: &Path, doing: &str, kind: &str) -> Error {
    Error::Io { path: path.display().to_string(), reason: format!("{doing}: it is {kind}, not a regular file") }
}

/// What a non-regular file is, for messages: "a folder", "a FIFO", ...
pub fn kind_of(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// The metadata of a file to read: it must exist and be a regular file (a
/// FIFO would block forever, a device never end).
pub fn readable_file(path: &Path, doing: &str) -> Result<fs::Metadata> {
    let meta = fs::metadata(path).map_err(|e| io_error(path, doing, &e))?;
    if !meta.is_file() {
        return Err(not_a_file(path, doing, kind_of(&meta)));
    }
    Ok(meta)
}

/// The file a write to `path` replaces: symlinks followed to their target
/// (which may not exist yet); refused unless it is a regular file one may
/// write, or absent. Returns the real path and, when it exists, its metadata
/// (whose permissions the new file keeps).
fn resolve(path: &Path) -> Result<(PathBuf, Option<fs::Metadata>)> {
    let doing = "cannot write";
    if path.as_os_str().is_empty() || path.to_string_lossy().ends_with('/') || path.file_name().is_none() {
        return Err(Error::Io {
            path: path.display().to_string(),
            reason: format!("{doing}: the path names a folder, not a file"),
        });
    }
    let mut real = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&real) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&real).map_err(|e| io_error(path, doing, &e))?;
                real = match real.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            Ok(meta) if meta.is_file() && meta.permissions().readonly() => {
                return Err(Error::Io {
                    path: path.display().to_string(),
                    reason: format!("{doing}: the file is read-only (make it writable to let rnnpy replace it)"),
                })
            }
            Ok(meta) if meta.is_file() => return Ok((real, Some(meta))),
            Ok(meta) => return Err(not_a_file(path, doing, kind_of(&meta))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((real, None)),
            Err(e) => return Err(io_error(path, doing, &e)),
        }
    }
    Err(io_error(path, doing, &io::Error::from_raw_os_error(40)))
}

/// [`resolve`], in a folder that exists: what a write renames over.
pub fn write_target(path: &Path) -> Result<(PathBuf, Option<fs::Metadata>)> {
    let (real, existing) = resolve(path)?;
    match fs::metadata(folder_of(&real)) {
        Ok(m) if m.is_dir() => Ok((real, existing)),
        Ok(_) => Err(io_error(path, "cannot write", &io::Error::from_raw_os_error(20))),
        Err(e) => Err(io_error(path, "cannot write", &e)),
    }
}

/// The folder a file sits in ("." for a bare name).
pub fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether `path` could be written now, before hours of work depend on it:
/// the target is a writable regular file or absent, and its folder (or, with
/// `create_folders`, the nearest folder that exists above it) takes a new
/// file. Creates and removes one probe file; changes nothing else.
pub fn check_output(path: &Path, create_folders: bool) -> Result<()> {
    let (real, _) = resolve(path)?;
    let mut dir = folder_of(&real);
    while create_folders && fs::symlink_metadata(&dir).is_err() {
        let up = folder_of(&dir);
        if up == dir {
            break;
        }
        dir = up;
    }
    match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => probe(path, &dir),
        Ok(_) => Err(Error::Io {
            path: path.display().to_string(),
            reason: format!("cannot write: '{}' is a file, not a folder", dir.display()),
        }),
        Err(e) => Err(io_error(path, "cannot write", &e)),
    }
}

/// Creates and removes a file in `dir`: the only sure test that it takes one.
fn probe(path: &Path, dir: &Path) -> Result<()> {
    let name = format!(".rnnpy-probe-{}-{}", std::process::id(), super::atomic::next_sequence());
    let p = dir.join(name);
    fs::OpenOptions::new().write(true).create_new(true).open(&p).map_err(|e| io_error(path, "cannot write", &e))?;
    let _ = fs::remove_file(&p);
    Ok(())
}
