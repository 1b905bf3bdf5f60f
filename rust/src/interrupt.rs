//! Ctrl-C, as the core sees it: one process-wide level that the Python layer
//! raises from its signal watcher (`rnnpy/interrupt.py`) while the core runs
//! with the GIL released, so that a long call stops within a time step.
//!
//! - `STOP` (first Ctrl-C): computations stop at their next check and return
//!   `Error::Interrupted` without changing anything (a training step's update
//!   is not applied); saving still completes.
//! - `ABORT` (second Ctrl-C): saving stops too, removing its temporary file.
//!
//! Nothing but the watcher raises it, so a program that never installs one
//! never sees `Interrupted`.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::{Error, Result};

pub const NONE: u8 = 0;
pub const STOP: u8 = 1;
pub const ABORT: u8 = 2;

static LEVEL: AtomicU8 = AtomicU8::new(NONE);

/// Sets the level (`NONE` clears it).
pub fn set(level: u8) {
    LEVEL.store(level.min(ABORT), Ordering::SeqCst);
}

pub fn level() -> u8 {
    LEVEL.load(Ordering::Relaxed)
}

/// Whether computations should stop: cheap enough for every time step.
#[inline]
pub fn stop_requested() -> bool {
    level() >= STOP
}

/// `Err(Interrupted)` once a stop was requested.
pub fn check() -> Result<()> {
    if stop_requested() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

/// `Err(Interrupted)` once an abort was requested (saving checks this).
pub fn check_abort() -> Result<()> {
    if level() >= ABORT {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}
