//! The one error map: the core's `Error` to typed Python exceptions, so the
//! bindings just use `?`.
//!
//! Every exception rnnpy raises for input it cannot use derives from
//! `RnnpyError`, a `ValueError`. The Python package adds its own subclasses
//! (`rnnpy/errors.py`); I/O failures stay `OSError`.

use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyValueError};
use pyo3::PyErr;

use crate::error::Error;

create_exception!(_core, RnnpyError, PyValueError, "Input that rnnpy cannot use; the message says what did not fit.");
create_exception!(_core, ConfigError, RnnpyError, "A model configuration that cannot describe a model.");
create_exception!(
    _core,
    InputError,
    RnnpyError,
    "Arrays, token ids or settings that do not fit the model or the call (wrong shape, id out of range, ...)."
);
create_exception!(
    _core,
    CheckpointError,
    RnnpyError,
    "A checkpoint file that is missing, truncated, foreign or inconsistent."
);

create_exception!(
    _core,
    MemoryLimitError,
    RnnpyError,
    "Sizes that need more memory than the machine has (the message gives both); nothing was allocated."
);

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match &e {
            Error::Config(_) => ConfigError::new_err(e.to_string()),
            Error::Input(_) => InputError::new_err(e.to_string()),
            Error::Checkpoint { .. } => CheckpointError::new_err(e.to_string()),
            Error::Io { .. } => PyOSError::new_err(e.to_string()),
            Error::Memory(_) => MemoryLimitError::new_err(e.to_string()),
            Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        }
    }
}

/// An `InputError` from the bindings' own argument checks.
pub fn input(message: impl Into<String>) -> PyErr {
    Error::Input(message.into()).into()
}
