//! Checkpoint file bindings: the raw record in, the raw record out. The
//! Python layer (`rnnpy/checkpoint.py`) turns it into models and trainers.

use std::path::PathBuf;

use numpy::PyReadonlyArray1;
use pyo3::prelude::*;

use super::arrays::to_numpy;
use super::model::{PyModel, PyModelConfig};
use crate::checkpoint::{timestamp_now, CheckpointRecord, FORMAT_VERSION};
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
    fn model(&self) -> PyResult<PyModel> {
        Ok(PyModel { inner: Model::from_flat(self.rec.config.clone(), &self.rec.param_data)? })
    }
    fn param_m<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_numpy(py, self.rec.param_m.clone(), &[self.rec.param_m.len()])
    }
    fn param_v<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_numpy(py, self.rec.param_v.clone(), &[self.rec.param_v.len()])
    }
}

#[pyfunction]
pub fn read_checkpoint(py: Python<'_>, path: PathBuf) -> PyResult<PyCheckpointRecord> {
    let rec = py.allow_threads(|| CheckpointRecord::read(&path))?;
    Ok(PyCheckpointRecord { rec })
}

/// Writes atomically. Moments default to zeros; version and timestamp to
/// the old program's `"3.0-bin"` and now.
#[pyfunction]
#[pyo3(signature = (path, model, optimizer_step=0, param_m=None, param_v=None, metadata=None, version=None, timestamp=None))]
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
) -> PyResult<()> {
    let param_data = model.inner.flat();
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
        config: model.inner.config.clone(),
        param_data,
        param_m: moments(param_m, "param_m")?,
        param_v: moments(param_v, "param_v")?,
    };
    py.allow_threads(|| rec.write(&path))?;
    Ok(())
}
