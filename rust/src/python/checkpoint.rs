//! Checkpoint file bindings: the raw record in, the raw record out, and the
//! atomic writes and path checks every file rnnpy writes goes through. The
//! Python layer (`rnnpy/checkpoint.py`) turns records into models and trainers.

use std::path::PathBuf;

use numpy::PyReadonlyArray1;
use pyo3::prelude::*;

use super::arrays::to_numpy;
use super::model::{PyModel, PyModelConfig};
use crate::checkpoint::{paths, timestamp_now, write_atomic, CheckpointRecord, FORMAT_VERSION};
use crate::nn::Model;

#[pyclass(name = "CheckpointRecord", module = "rnnpy._core", frozen)]
pub struct PyCheckpointRecord {
    rec: CheckpointRecord,
}

#[pymethods]
impl PyCheckpointRecord {
    #[getter]
    fn version(&self) -> &str {
        &self.rec.version
    }
    #[getter]
    fn timestamp(&self) -> &str {
        &self.rec.timestamp
    }
    #[getter]
    fn metadata(&self) -> Option<&str> {
        self.rec.metadata.as_deref()
    }
    #[getter]
    fn optimizer_step(&self) -> usize {
        self.rec.optimizer_step
    }
    #[getter]
    fn config(&self) -> PyModelConfig {
        PyModelConfig { inner: self.rec.config.clone() }
    }
    fn model(&self, py: Python<'_>) -> PyResult<PyModel> {
        let rec = &self.rec;
        Ok(PyModel::wrap(py.allow_threads(|| Model::from_flat(rec.config.clone(), &rec.param_data))?))
    }
    fn param_m<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_numpy(py, self.rec.param_m.clone(), &[self.rec.param_m.len()])
    }
    fn param_v<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_numpy(py, self.rec.param_v.clone(), &[self.rec.param_v.len()])
    }
}

/// Reads and validates a checkpoint; non-finite weights are an error unless `allow_non_finite`.
#[pyfunction]
#[pyo3(signature = (path, allow_non_finite=false))]
pub fn read_checkpoint(py: Python<'_>, path: PathBuf, allow_non_finite: bool) -> PyResult<PyCheckpointRecord> {
    let rec = py.allow_threads(|| CheckpointRecord::read(&path, allow_non_finite))?;
    Ok(PyCheckpointRecord { rec })
}

/// Writes atomically, after checking the record as a reader would (refusing
/// non-finite weights unless `allow_non_finite`). Moments default to zeros;
/// version and timestamp to the old program's `"3.0-bin"` and now.
#[pyfunction]
#[pyo3(signature = (path, model, optimizer_step=0, param_m=None, param_v=None, metadata=None, version=None, timestamp=None, allow_non_finite=false))]
#[allow(clippy::too_many_arguments)]
pub fn write_checkpoint(
    py: Python<'_>,
    path: PathBuf,
    model: &PyModel,
    optimizer_step: usize,
    param_m: Option<PyReadonlyArray1<f32>>,
    param_v: Option<PyReadonlyArray1<f32>>,
    metadata: Option<String>,
    version: Option<String>,
    timestamp: Option<String>,
    allow_non_finite: bool,
) -> PyResult<()> {
    let (param_data, config) = py.allow_threads(|| {
        let m = model.read();
        (m.flat(), m.config.clone())
    });
    let n = param_data.len();
    let moments = |a: Option<PyReadonlyArray1<f32>>, what: &str| -> PyResult<Vec<f32>> {
        match a {
            None => Ok(vec![0.0; n]),
            Some(a) => {
                let v = super::arrays::copied(&a);
                super::arrays::check_len(what, v.len(), n)?;
                Ok(v)
            }
        }
    };
    let rec = CheckpointRecord {
        version: version.unwrap_or_else(|| FORMAT_VERSION.to_string()),
        timestamp: timestamp.unwrap_or_else(timestamp_now),
        metadata,
        optimizer_step,
        config,
        param_data,
        param_m: moments(param_m, "param_m")?,
        param_v: moments(param_v, "param_v")?,
    };
    py.allow_threads(|| rec.write(&path, allow_non_finite))?;
    Ok(())
}

/// Writes `data` to `path` atomically (a temporary beside it, read back,
/// renamed over it): how every file rnnpy writes is written.
#[pyfunction]
pub fn write_file_atomic(py: Python<'_>, path: PathBuf, data: Vec<u8>) -> PyResult<()> {
    Ok(py.allow_threads(|| write_atomic(&path, &data))?)
}

/// Raises OSError, naming `path`, when it could not be written now: not a
/// regular file, read-only, in a folder that does not take files. With
/// `create_folders`, missing folders count as ones that will be created.
#[pyfunction]
#[pyo3(signature = (path, create_folders=true))]
pub fn check_output_path(py: Python<'_>, path: PathBuf, create_folders: bool) -> PyResult<()> {
    Ok(py.allow_threads(|| paths::check_output(&path, create_folders))?)
}

/// Raises OSError, naming `path`, unless it is a regular file that can be read
/// (a FIFO would block, a device never end); returns its size in bytes.
#[pyfunction]
pub fn check_input_path(py: Python<'_>, path: PathBuf) -> PyResult<u64> {
    Ok(py.allow_threads(|| paths::readable_file(&path, "cannot read").map(|m| m.len()))?)
}
