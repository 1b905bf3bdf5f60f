"""Running the program as a user does, for the robustness tests: a
subprocess, optionally under an address-space limit, and what a user may
see of a failure (one line on stderr, no traceback, no abort)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

RNNPY = [sys.executable, "-m", "rnnpy"]
TEXT = "the quick brown fox jumps over the lazy dog. " * 4  # 180 chars: 7 windows of 25
SMALL = ["--hiddenSize=8", "--embedSize=8", "--numHeads=2", "--numExperts=2", f"--trainingText={TEXT}"]


def limit_address_space(gigabytes: float):  # a preexec_fn
    """`ulimit -v` for a child: what the issue's 8 GB tries ran under."""

    def apply() -> None:
        limit = int(gigabytes * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def run(cwd: Path, *args: str, timeout: float = 120, limit_gb: float | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*RNNPY, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        preexec_fn=limit_address_space(limit_gb) if limit_gb else None,
    )


def assert_clean_error(p: subprocess.CompletedProcess, *fragments: str) -> str:
    """Status 2, one line on stderr naming `fragments`, and none of what a
    user must never see: a traceback, a Rust panic or abort, an errno, a
    temporary file's name."""
    err = p.stderr.strip()
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert len(err.splitlines()) == 1, err
    for bad in ("Traceback", "panicked", "memory allocation", "Errno", ".tmp", "rnnpy-tmp", "codec"):
        assert bad not in err, err
    for f in fragments:
        assert f in err, (f, err)
    return err


def stray_temporaries(folder: Path) -> list[str]:
    """rnnpy's temporaries left in `folder` (today's and rnnpy 0.1.0's names)."""
    return sorted(n for n in os.listdir(folder) if "rnnpy-tmp" in n or ".tmp-" in n or n.endswith(".tmp"))


def interrupt(proc: subprocess.Popen, times: int = 1, gap: float = 0.1) -> None:
    """Ctrl-C, `times` times `gap` seconds apart."""
    for i in range(times):
        if i:
            time.sleep(gap)
        proc.send_signal(signal.SIGINT)
