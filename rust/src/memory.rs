//! How much memory a request may use, checked before allocating: a size a
//! user typed (a hidden size, a generation length, a batch) must end in an
//! `Error::Memory` naming both sizes, never in the allocator's abort.
//!
//! "Available" is the smallest of what the system reports: free RAM
//! (`MemAvailable`), the process's address-space limit (`ulimit -v`) less
//! what it already maps, and a cgroup's memory limit (containers) less what
//! the group uses. Where none is known (not Linux), nothing is refused here
//! and `try_zeros` still turns an allocation failure into an error.

use std::fs;

use crate::error::{Error, Result};

/// Requests below this are never refused: every machine that runs rnnpy has it.
const SMALL: u128 = 64 << 20;

/// Bytes the process can still use, or `None` when the system does not say.
pub fn available_bytes() -> Option<u64> {
    [mem_available(), address_space_left(), cgroup_left()].into_iter().flatten().min()
}

/// `Err(Error::Memory)` when `bytes` exceed what is available; `what` names
/// the request: "{what} needs 12.8 GB (...), but only 7.6 GB (...) is available".
pub fn ensure(bytes: u128, what: impl FnOnce() -> String) -> Result<()> {
    if bytes < SMALL {
        return Ok(()); // not worth reading /proc for
    }
    match available_bytes() {
        Some(avail) if bytes > u128::from(avail) => Err(Error::Memory(format!(
            "{} needs {}, but only {} is available",
            what(),
            describe(bytes),
            describe(u128::from(avail))
        ))),
        _ => Ok(()),
    }
}

/// An empty vector with room for `n` values, or `Error::Memory` when they
/// cannot be allocated (checked against `available_bytes` first:
/// overcommitting systems would otherwise hand out memory they kill the
/// process for later).
pub fn try_with_capacity<T>(n: usize, what: impl Fn() -> String) -> Result<Vec<T>> {
    let bytes = (n as u128) * (std::mem::size_of::<T>() as u128);
    ensure(bytes, &what)?;
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| Error::Memory(format!("{} needs {}, which cannot be allocated", what(), describe(bytes))))?;
    Ok(v)
}

/// `n` zeros, as [`try_with_capacity`].
pub fn try_zeros<T: Clone + Default>(n: usize, what: impl Fn() -> String) -> Result<Vec<T>> {
    let mut v = try_with_capacity(n, what)?;
    v.resize(n, T::default());
    Ok(v)
}

/// "12,812,345,344".
pub fn grouped(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "12.8 GB (12,812,345,344 bytes)".
pub fn describe(bytes: u128) -> String {
    let grouped = grouped(bytes);
    let units = [("EB", 1e18), ("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    let b = bytes as f64;
    match units.iter().find(|(_, size)| b >= *size) {
        Some((unit, size)) => format!("{:.1} {unit} ({grouped} bytes)", b / size),
        None => format!("{grouped} bytes"),
    }
}

/// A `key: N kB` line of a /proc file, in bytes.
fn proc_kb(path: &str, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb.saturating_mul(1024))
}

fn mem_available() -> Option<u64> {
    proc_kb("/proc/meminfo", "MemAvailable:")
}

/// `ulimit -v` (the soft limit) less the address space already mapped.
fn address_space_left() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max address space"))?;
    let soft: u64 = line["Max address space".len()..].split_whitespace().next()?.parse().ok()?; // "unlimited" -> None
    Some(soft.saturating_sub(proc_kb("/proc/self/status", "VmSize:")?))
}

/// cgroup v2's `memory.max` less `memory.current`.
fn cgroup_left() -> Option<u64> {
    let read = |name: &str| fs::read_to_string(format!("/sys/fs/cgroup/{name}")).ok()?.trim().parse::<u64>().ok();
    Some(read("memory.max")?.saturating_sub(read("memory.current").unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_words_and_bytes() {
        assert_eq!(describe(512), "512 bytes");
        assert_eq!(describe(12_812_345_344), "12.8 GB (12,812,345,344 bytes)");
        assert_eq!(describe(1_000), "1.0 kB (1,000 bytes)");
    }

    #[test]
    fn impossible_requests_are_errors_not_aborts() {
        let e = try_zeros::<f32>(usize::MAX / 8, || "a test buffer".into()).unwrap_err();
        assert!(matches!(e, Error::Memory(ref m) if m.contains("a test buffer")), "{e}");
        assert!(ensure(u128::MAX, || "this".into()).is_err() || available_bytes().is_none());
        assert_eq!(try_zeros::<u32>(3, || "small".into()).unwrap(), vec![0, 0, 0]);
    }
}
