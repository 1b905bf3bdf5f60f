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
    m.add_class::<model::PyModelConfig>()?;
    m.add_class::<model::PyModel>()?;
    m.add_class::<model::PyRecurrentState>()?;
    m.add_class::<stream::PyTokenStream>()?;
    m.add_class::<trainer::PyTrainer>()?;
    m.add_class::<checkpoint::PyCheckpointRecord>()?;
    m.add_function(wrap_pyfunction!(checkpoint::read_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint::write_checkpoint, m)?)?;
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
