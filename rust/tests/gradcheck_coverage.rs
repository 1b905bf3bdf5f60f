//! Keeps the gradient checks complete: every op constructor (`pub fn name(&mut
//! self, ...)` in any file of `src/engine/ops/`) must be called in a
//! finite-difference check (`tests/gradcheck_*.rs`), and every kernel of
//! `fused.rs` and `moe.rs` also in `gradcheck_composition.rs`. A new op
//! without its tests fails here, naming it.

use std::fs;
use std::path::Path;

/// Fused ops with no composition check, and why.
const NO_COMPOSITION: &[(&str, &str)] =
    &[("moe_combine", "already a plain weighted sum of row subsets; no shorter primitive form")];

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Names of the public `&mut self` methods of a source file (the op
/// constructors), whether or not the signature is wrapped over several lines.
fn constructors(src: &str) -> Vec<String> {
    src.split("pub fn ")
        .skip(1)
        .filter_map(|rest| {
            let (name, args) = rest.split_once('(')?;
            let receiver = args.split(',').next()?.trim();
            let name = name.split('<').next()?.trim();
            receiver.starts_with("&mut self").then(|| name.to_string())
        })
        .collect()
}

/// `(file stem, contents)` of the files in `dir` (relative to the crate) whose
/// names pass `keep`, sorted.
fn sources(dir: &str, keep: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut names: Vec<String> = fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rs").map(str::to_string))
        .filter(|n| keep(n))
        .collect();
    names.sort();
    names.into_iter().map(|n| (n.clone(), read(&format!("{dir}/{n}.rs")))).collect()
}

#[test]
fn every_op_has_gradient_and_composition_checks() {
    // Finite-difference checks: every gradcheck file but the ones that only
    // compare (composition), time (threads) or read (this one) ops.
    let not_fd = ["gradcheck_composition", "gradcheck_threads", "gradcheck_coverage"];
    let fd: String = sources("tests", |n| n.starts_with("gradcheck_") && !not_fd.contains(&n))
        .into_iter()
        .map(|(_, src)| src)
        .collect();
    let composition = read("tests/gradcheck_composition.rs");
    let mut missing = Vec::new();
    // Every op family: all of `engine/ops/` except the module file and the loop helpers.
    for (file, src) in sources("src/engine/ops", |n| n != "mod" && n != "par") {
        let ops = constructors(&src);
        assert!(!ops.is_empty(), "no op constructors found in {file}.rs");
        eprintln!("{file}.rs: {}", ops.join(" "));
        for op in ops {
            let call = format!(".{op}(");
            if !fd.contains(&call) {
                missing.push(format!("{op} ({file}.rs) has no finite-difference check"));
            }
            let fused = file == "fused" || file == "moe";
            if fused && !NO_COMPOSITION.iter().any(|(n, _)| *n == op) && !composition.contains(&call) {
                missing.push(format!("{op} ({file}.rs) has no composition check"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
