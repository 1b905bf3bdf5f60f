//! The core's one error type, mapped to Python exceptions once, so bindings use `?`.

use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::PyErr;

use crate::error::Error;

create_exception!(
    _core,
    CheckpointError,
    PyValueError,
    "A checkpoint file that is missing, truncated, foreign or inconsistent."
);

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match &e {
            Error::Config(_) | Error::Input(_) => PyValueError::new_err(e.to_string()),
            Error::Checkpoint { .. } => CheckpointError::new_err(e.to_string()),
            Error::Io { .. } => PyOSError::new_err(e.to_string()),
        }
    }
}
