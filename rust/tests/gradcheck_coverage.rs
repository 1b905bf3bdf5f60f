//! Keeps the gradient checks complete: every op constructor (`pub fn name(&mut
//! self, ...)` in `src/engine/ops/`) must be called in a finite-difference
//! check, and every fused kernel also in a composition check. A new op without
//! its tests fails here, naming it.

use std::fs;
use std::path::Path;

/// Fused ops with no composition check, and why.
const NO_COMPOSITION: &[(&str, &str)] = &[("moe_combine", "already a plain weighted sum of row subsets; no shorter primitive form")];

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Names of the public `&mut self` methods of a source file (the op constructors).
fn constructors(src: &str) -> Vec<String> {
    src.lines()
        .filter_map(|l| l.trim_start().strip_prefix("pub fn "))
        .filter(|rest| rest.contains("(&mut self"))
        .map(|rest| rest.split(['(', '<']).next().unwrap().to_string())
        .collect()
}

#[test]
fn every_op_has_gradient_and_composition_checks() {
    let fd = read("tests/gradcheck_ops.rs") + &read("tests/gradcheck_fused.rs");
    let composition = read("tests/gradcheck_composition.rs");
    let mut missing = Vec::new();
    for file in ["linalg", "elementwise", "shape", "fused", "moe"] {
        let ops = constructors(&read(&format!("src/engine/ops/{file}.rs")));
        assert!(!ops.is_empty(), "no op constructors found in {file}.rs");
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
