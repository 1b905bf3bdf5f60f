"""Ctrl-C during long work: the first asks the work to stop at a clean point
(the caller then saves what is complete), the second stops at once without
touching files.

While the Rust core runs, the main thread executes no Python, so a Python
signal handler alone would only run when the call returns (47.9 s at H 256 ×
2 layers). ``catch_sigint`` therefore also has Python's C-level handler
write each signal to a pipe (``signal.set_wakeup_fd``), which a watcher
thread reads at once: it counts the Ctrl-Cs and raises the core's level
(``rust/src/interrupt.rs``), which training steps, generation and saves
check between (and within) time steps. Python's own handler then only
raises KeyboardInterrupt once the second Ctrl-C has been counted.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rnnpy import _core

STOP = 1  # the core stops computing (a step in progress is not applied)
ABORT = 2  # the core stops saving too, removing its temporary file


class StopFlag:
    """Set by the first Ctrl-C while ``catch_sigint`` is active; ``aborted``
    by the second (which also raises KeyboardInterrupt in the main thread)."""

    def __init__(self) -> None:
        self.is_set = False
        self.aborted = False

    def set(self) -> None:
        self.is_set = True


@contextmanager
def catch_sigint(flag: StopFlag, stop_core: bool = True) -> Iterator[StopFlag]:
    """Ctrl-C sets `flag` (and, with `stop_core`, stops the core's work); a
    second one aborts, the core included. A data-parallel rank passes
    ``stop_core=False``: no rank may stop a step the others are in (the
    ranks agree on the flag through the step's all-reduce). Outside the main
    thread signals cannot be caught: the flag is only set by hand there."""
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # the C handler must never block

    def watch() -> None:
        while data := os.read(read_end, 64):
            for signum in data:
                if signum != signal.SIGINT:
                    continue
                if flag.is_set:
                    flag.aborted = True
                    _core.set_interrupt(ABORT)
                else:
                    flag.set()
                    if stop_core:
                        _core.set_interrupt(STOP)

    def handler(signum: int, frame: object) -> None:
        if flag.aborted:
            raise KeyboardInterrupt

    watcher = threading.Thread(target=watch, name="rnnpy-ctrl-c", daemon=True)
    previous = signal.signal(signal.SIGINT, handler)
    previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    watcher.start()
    try:
        yield flag
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGINT, previous)
        os.close(write_end)  # the watcher reads end-of-file and returns
        watcher.join()
        os.close(read_end)
        _core.set_interrupt(0)
