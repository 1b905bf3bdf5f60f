"""rnnpy.distributed: the one-process world, the helpers, and — under
`mpiexec -n 2` — the MPI collectives, the check that ranks agree, and a lost
rank named within the deadline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnnpy.distributed import (
    DistributedError,
    Single,
    check_same,
    checksum,
    connect,
    fingerprint,
    launched_by_mpi,
    share,
)

HERE = Path(__file__).resolve().parent
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")


def have_mpi() -> bool:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return MPIEXEC is not None


needs_mpi = pytest.mark.skipif(not have_mpi(), reason="mpi4py and mpiexec are not installed (pip install mpi4py mpich)")


def mpirun(n: int, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    assert MPIEXEC is not None
    return subprocess.run(
        [MPIEXEC, "-n", str(n), sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_one_process_world_is_the_identity() -> None:
    w = Single()
    buf = np.arange(4, dtype=np.float32)
    assert w.allreduce_sum(buf, step=0) == 0.0 and list(buf) == [0, 1, 2, 3]
    assert (w.rank, w.size, w.is_root, w.sum(2.5), w.any(False), w.gather(3)) == (0, 1, True, 2.5, False, [3])
    check_same(w, "options", "x")


def test_shares_cover_the_batch_in_order() -> None:
    class FakeWorld(Single):
        def __init__(self, rank: int, size: int) -> None:
            self.rank, self.size = rank, size

    for rows in (1, 7, 8, 32):
        for size in (1, 2, 3, 5):
            parts = [share(rows, FakeWorld(r, size)) for r in range(size)]
            assert parts[0][0] == 0 and parts[-1][1] == rows
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
            assert max(e - s for s, e in parts) - min(e - s for s, e in parts) <= 1


def test_fingerprints_and_checksums() -> None:
    assert fingerprint("a", b"b") == fingerprint("a", "b") != fingerprint("ab")
    p = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    q = p.copy()
    q[500] += 1e-3
    assert checksum(p) == checksum(p.copy()) != checksum(q)


def test_connect_picks_the_world_from_the_mode_and_the_launcher() -> None:
    assert isinstance(connect("off"), Single)
    assert launched_by_mpi({"PMI_SIZE": "2", "PMI_RANK": "0"})
    assert not launched_by_mpi({"PMI_SIZE": "1"})
    assert not launched_by_mpi({})


def test_mpi_mode_without_mpi4py_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import fails as if not installed
    with pytest.raises(DistributedError, match="needs mpi4py"):
        connect("mpi")


@needs_mpi
def test_collectives_over_two_ranks(tmp_path: Path) -> None:
    proc = mpirun(2, str(HERE / "mpi" / "primitives.py"), "collectives", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in rows] == [0, 1]
    for r in rows:
        assert r["size"] == 2 and r["sum"] == 3.0 and r["loss"] == 0.75 and r["any"] is True and r["none"] is False
        assert r["root_value"] == "from 0"
        assert r["mismatch"] == "rank(s) 1 started with different options than rank 0; start every rank alike"
    assert [tuple(r["share"]) for r in rows] == [(0, 4), (4, 7)]


@needs_mpi
def test_a_lost_rank_is_named_within_the_deadline(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    proc = mpirun(2, str(HERE / "mpi" / "primitives.py"), "lost", str(tmp_path), "3", timeout=60)
    elapsed = time.perf_counter() - t0
    assert proc.returncode != 0
    assert "rank(s) 1 stopped responding at step 7" in proc.stderr, proc.stderr[-2000:]
    assert elapsed < 40, f"took {elapsed:.0f} s to give up on a lost rank"
