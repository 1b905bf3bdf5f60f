//! One error type for the whole core. Every variant names what did not fit;
//! user input never panics.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A model configuration that cannot describe a model (zero sizes, H % heads != 0, ...).
    Config(String),
    /// Arrays or token ids that do not fit the model (wrong shape, id out of range, ...).
    Input(String),
    /// A checkpoint file that is missing, truncated, foreign or inconsistent.
    Checkpoint { path: String, reason: String },
    /// An I/O failure other than a malformed checkpoint.
    Io { path: String, reason: String },
    /// A request whose memory the machine does not have (the message gives both sizes).
    Memory(String),
    /// Stopped by Ctrl-C (`interrupt::request`) before anything was changed.
    Interrupted,
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "invalid model configuration: {m}"),
            Error::Input(m) | Error::Memory(m) => write!(f, "{m}"),
            Error::Checkpoint { path, reason } => write!(f, "checkpoint '{path}': {reason}"),
            Error::Io { path, reason } => write!(f, "'{path}': {reason}"),
            Error::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for Error {}
