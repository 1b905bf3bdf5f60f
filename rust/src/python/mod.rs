//! Thin PyO3 bindings: argument conversion, GIL release, error mapping. No
//! numerics here; the typed, documented API is `python/rnnpy/`.

use pyo3::prelude::*;

mod arrays;
mod checkpoint;
mod errors;
mod model;
mod rl;
mod stream;
mod trainer;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("RnnpyError", m.py().get_type::<errors::RnnpyError>())?;
    m.add("ConfigError", m.py().get_type::<errors::ConfigError>())?;
    m.add("InputError", m.py().get_type::<errors::InputError>())?;
    m.add("CheckpointError", m.py().get_type::<errors::CheckpointError>())?;
    m.add("MemoryLimitError", m.py().get_type::<errors::MemoryLimitError>())?;
    m.add_class::<model::PyModelConfig>()?;
    m.add_class::<model::PyModel>()?;
    m.add_class::<model::PyRecurrentState>()?;
    m.add_class::<stream::PyTokenStream>()?;
    m.add_class::<trainer::PyTrainer>()?;
    m.add_class::<checkpoint::PyCheckpointRecord>()?;
    m.add_function(wrap_pyfunction!(checkpoint::read_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint::write_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint::write_file_atomic, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint::check_output_path, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint::check_input_path, m)?)?;
    m.add_function(wrap_pyfunction!(set_interrupt, m)?)?;
    m.add_function(wrap_pyfunction!(available_memory, m)?)?;
    m.add_class::<rl::PyGrpoBatch>()?;
    m.add_class::<rl::PyGrpoStats>()?;
    m.add_function(wrap_pyfunction!(rl::rl_sample_groups, m)?)?;
    m.add_function(wrap_pyfunction!(rl::rl_token_log_probs, m)?)?;
    m.add_function(wrap_pyfunction!(rl::rl_loss_and_grad, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_sgemm_gflops, m)?)?;
    Ok(())
}

/// GFLOP/s of the core's own GEMM kernel on an `n × n` product (benchmarks only).
#[pyfunction]
#[pyo3(signature = (n=1024, repeats=5))]
fn kernel_sgemm_gflops(py: Python<'_>, n: usize, repeats: usize) -> f64 {
    py.allow_threads(|| crate::engine::kernels::peak::sgemm_gflops(n, repeats))
}

/// Ctrl-C for the core (`rust/src/interrupt.rs`): 0 none, 1 stop computing,
/// 2 stop saving too. Set by rnnpy's signal watcher (`rnnpy/interrupt.py`).
#[pyfunction]
fn set_interrupt(level: u8) {
    crate::interrupt::set(level);
}

/// Bytes of memory the process can still use, or None when the system does not say.
#[pyfunction]
fn available_memory() -> Option<u64> {
    crate::memory::available_bytes()
}
