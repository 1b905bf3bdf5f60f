"""Data-parallel training across processes with MPI.

Every rank holds the same model and optimizer state. Each optimizer step, the
ranks take disjoint shares of the same global batch (their shuffling RNGs are
seeded alike), compute the gradient of their share — scaled by the share, so
the sum is the global batch's mean-loss gradient — and one in-place
``Allreduce`` of a single float32 buffer gives every rank that sum. Clipping
and AdamW then run identically everywhere, so the parameters stay equal
without being broadcast; a checksum every few steps proves it.

``World`` is the seam: ``Single`` (one process: every collective is the
identity) and ``Mpi`` (mpi4py). Nothing else in rnnpy imports mpi4py.

Collectives wait with a deadline: a rank that died or hangs does not leave the
others waiting forever. Before each gradient ``Allreduce`` every rank sends
rank 0 a heartbeat naming the step; when the reduction does not complete in
time, rank 0 names the ranks whose heartbeat never came and aborts the job
(``MPI_Abort``), the others abort a little later if rank 0 is the one lost.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import numpy.typing as npt

from rnnpy.errors import DistributedError

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Environment variables an MPI launcher sets for its processes (MPICH/Hydra,
#: Open MPI, PMIx, Intel MPI, Slurm's PMI).
LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")

#: How long a collective may wait before the job is declared broken.
DEFAULT_TIMEOUT_S = 600.0

#: Seconds between printing why the job stops and MPI_Abort.
ABORT_GRACE_S = 1.0

#: Seconds between polls of a pending collective (the wait sleeps, so it
#: costs nothing while the other ranks compute).
POLL_S = 0.0005
#: ... after polling without a pause for this long (a reduction that is nearly done finishes sooner).
SPIN_S = 0.002


def launched_by_mpi(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether an MPI launcher started this process with more than one rank."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS"):
        if var in environ:
            try:
                return int(environ[var]) > 1
            except ValueError:
                return True
    return any(v in environ for v in LAUNCHER_VARIABLES)


class World:
    """The processes of one training run. `Single` is the one-process world."""

    rank = 0
    size = 1

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def allreduce_sum(self, buf: npt.NDArray[np.float32], step: int) -> float:
        """Sums `buf` over the ranks in place; returns the seconds spent waiting."""
        return 0.0

    def sum(self, value: float) -> float:
        """`value` summed over the ranks (a loss, a token count)."""
        return value

    def any(self, flag: bool) -> bool:
        """Whether any rank has `flag` set (Ctrl-C seen by one rank stops all)."""
        return flag

    def gather(self, value: Any) -> list[Any]:
        """`[value of rank 0, value of rank 1, …]` on every rank (small objects)."""
        return [value]

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value`, on every rank."""
        return value

    def abort(self, message: str, code: int = 1) -> NoReturn:
        """Prints `message` and ends every rank of the job."""
        print(message, file=sys.stderr, flush=True)
        raise SystemExit(code)

    def describe(self) -> str:
        return "1 process"


class Single(World):
    """One process: the collectives are identities."""


class Mpi(World):
    """The ranks of ``MPI.COMM_WORLD`` (mpi4py)."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise DistributedError(
                f'--distributed=mpi needs mpi4py and an MPI library ({e}); install them with `pip install "rnnpy[mpi]"`'
            ) from None
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.timeout_s = timeout_s
        self.host = MPI.Get_processor_name()
        self._heartbeat = np.zeros(1, dtype=np.int64)
        self._pending_beats: list[Any] = []

    def describe(self) -> str:
        hosts = sorted(set(self.gather(self.host)))
        where = f"{len(hosts)} host" + ("s" if len(hosts) != 1 else "")
        return f"{self.size} MPI ranks on {where}"

    def _wait(self, request: Any, step: int, what: str, beats: Sequence[Any] = ()) -> float:
        """Waits for `request` until the deadline; on timeout names the missing ranks and aborts."""
        t0 = time.perf_counter()
        # Rank 0 decides; the others allow it time to report before giving up themselves.
        deadline = t0 + (self.timeout_s if self.is_root else 1.5 * self.timeout_s)
        while not request.Test():
            if time.perf_counter() > deadline:
                if self.is_root and beats:
                    missing = [r for r, b in enumerate(beats, start=1) if not b.Test()]
                    who = ", ".join(map(str, missing)) if missing else "unknown"
                    self.abort(
                        f"rnnpy: error: rank(s) {who} stopped responding at step {step} ({what} waited "
                        f"{self.timeout_s:.0f} s); aborting every rank. The last checkpoint on disk is intact."
                    )
                self.abort(
                    f"rnnpy: error: rank {self.rank}: {what} at step {step} waited {1.5 * self.timeout_s:.0f} s "
                    "for the other ranks; aborting. The last checkpoint on disk is intact."
                )
            if time.perf_counter() - t0 > SPIN_S:  # MPICH progresses a request only inside Test: spin first
                time.sleep(POLL_S)
        return time.perf_counter() - t0

    def allreduce_sum(self, buf: npt.NDArray[np.float32], step: int) -> float:
        MPI = self.MPI
        beats: list[Any] = []
        if self.is_root:
            beats = [
                self.comm.Irecv([np.zeros(1, np.int64), MPI.INT64_T], source=r, tag=1) for r in range(1, self.size)
            ]
        else:
            self._heartbeat[0] = step
            self._pending_beats = [self.comm.Isend([self._heartbeat, MPI.INT64_T], dest=0, tag=1)]
        request = self.comm.Iallreduce(MPI.IN_PLACE, [buf, MPI.FLOAT], op=MPI.SUM)
        waited = self._wait(request, step, "the gradient all-reduce", beats)
        for b in beats:
            self._wait(b, step, "a heartbeat")
        for b in self._pending_beats:
            self._wait(b, step, "a heartbeat")
        return waited

    def sum(self, value: float) -> float:
        buf = np.array([value], dtype=np.float64)
        self._wait(self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM), -1, "a reduction")
        return float(buf[0])

    def any(self, flag: bool) -> bool:
        buf = np.array([1 if flag else 0], dtype=np.int64)
        self._wait(self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.MPI.MAX), -1, "a reduction")
        return bool(buf[0])

    def gather(self, value: Any) -> list[Any]:
        return list(self.comm.allgather(value))

    def broadcast(self, value: Any) -> Any:
        return self.comm.bcast(value, root=0)

    def abort(self, message: str, code: int = 1) -> NoReturn:
        print(message, file=sys.stderr, flush=True)
        # The launcher forwards a rank's stderr asynchronously and stops forwarding
        # once the job is torn down: give the message time to reach the user.
        time.sleep(ABORT_GRACE_S)
        self.comm.Abort(code)
        raise SystemExit(code)  # not reached: Abort ends the process


def connect(mode: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> World:
    """The world for ``--distributed=auto|mpi|off``: `auto` is MPI when an MPI
    launcher started more than one rank, one process otherwise."""
    if mode == "off":
        return Single()
    if mode == "mpi" or (mode == "auto" and launched_by_mpi()):
        return Mpi(timeout_s)
    return Single()


def fingerprint(*parts: bytes | str) -> str:
    """A short hash of what must be the same on every rank (options, text)."""
    h = hashlib.sha256()
    for p in parts:
        data = p.encode() if isinstance(p, str) else p
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:16]


def check_same(world: World, what: str, value: str) -> None:
    """Raises DistributedError naming the ranks whose `value` differs from rank 0's."""
    values = world.gather(value)
    odd = [r for r, v in enumerate(values) if v != values[0]]
    if odd:
        ranks = ", ".join(map(str, odd))
        raise DistributedError(f"rank(s) {ranks} started with different {what} than rank 0; start every rank alike")


def share(rows: int, world: World) -> tuple[int, int]:
    """This rank's rows `[start, end)` of a global batch of `rows` (contiguous, as even as possible)."""
    base, extra = divmod(rows, world.size)
    start = world.rank * base + min(world.rank, extra)
    return start, start + base + (1 if world.rank < extra else 0)


def checksum(params: npt.NDArray[np.float32]) -> float:
    """A position-weighted float64 sum of the parameters: equal on every rank while they agree."""
    weights = np.linspace(1.0, 2.0, num=params.size, dtype=np.float64)
    return float(np.dot(params.astype(np.float64), weights))
