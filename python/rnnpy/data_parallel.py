"""One rank's part of each optimizer step in a data-parallel run
(``rnnpy.distributed`` has the collectives, ``rnnpy.loop`` the loop).

Every rank sees the same global batch ``[B, T]`` (the batch RNG is seeded
alike) and takes its rows ``share(B)``; it writes the gradient of its rows,
scaled by their share of B, into one float32 buffer; one in-place
``Allreduce`` sums the buffers; clip + AdamW then run on every rank alike.

The buffer is ``[gradient (P) | loss | interrupted | seconds]``: the one
collective of a step also carries what the ranks must agree on besides the
update — the loss to report, whether any rank saw Ctrl-C (a signal reaches
the ranks at slightly different moments), and the clock that a time budget
and a time-based schedule read (each rank's own clock would let one rank
stop a step before the others and leave them waiting). For the same reason
the first Ctrl-C never stops the core inside a rank's step
(``catch_sigint(stop_core=False)``): the ranks stop after the step in whose
all-reduce they agreed on it. A step whose reduced loss or norm is not
finite is applied by no rank.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from rnnpy.batching import Batch
from rnnpy.distributed import World, checksum, share
from rnnpy.errors import DistributedError
from rnnpy.model import Model, RecurrentState
from rnnpy.trainer import Trainer

#: Optimizer steps between two comparisons of the ranks' parameter checksums.
CHECK_EVERY = 50

_LOSS, _INTERRUPTED, _SECONDS = 0, 1, 2  # offsets after the gradient


class DataParallel:
    """The sharded step of one rank of ``world`` for global batches of ``batch_size`` rows."""

    def __init__(self, trainer: Trainer, world: World, batch_size: int, check_every: int = CHECK_EVERY) -> None:
        if batch_size < world.size:
            raise DistributedError(
                f"--batchSize={batch_size} is smaller than the {world.size} ranks: every rank needs at least "
                "one row of the global batch (raise --batchSize or start fewer ranks)"
            )
        self.trainer, self.world, self.batch_size = trainer, world, batch_size
        self.check_every = check_every
        n = trainer.model.config.num_parameters()
        self.buffer = np.zeros(n + 3, dtype=np.float32)
        self.gradient = self.buffer[:n]  # a view: the core writes straight into the reduced buffer
        self.tail = self.buffer[n:]
        self.interrupted = False  # agreed: some rank saw Ctrl-C
        self.seconds = 0.0  # agreed: the mean of the ranks' clocks at the last step
        self.allreduce_seconds = 0.0  # waited in the gradient all-reduce, over the run
        self.steps = 0

    @property
    def rows(self) -> tuple[int, int]:
        """This rank's rows ``[start, end)`` of a full global batch."""
        return share(self.batch_size, self.world)

    @property
    def row_count(self) -> int:
        """How many rows of a full global batch this rank holds (its carried state's batch)."""
        start, end = self.rows
        return end - start

    def step(self, batch: Batch, state: RecurrentState | None, seconds: float, signalled: bool) -> tuple[float, float]:
        """One optimizer step on the global ``batch``: this rank's rows, the
        all-reduce, the update. ``state`` holds this rank's rows of a carried
        state; ``seconds`` is this rank's clock and ``signalled`` whether it saw
        Ctrl-C. Returns the global batch's mean loss and its pre-clip norm."""
        rows = batch.inputs.shape[0]  # the last batch of a shuffled epoch may be partial
        start, end = share(rows, self.world)
        if end > start:
            scale = (end - start) / rows
            loss, _ = self.trainer.gradient(
                batch.inputs[start:end], batch.targets[start:end], out=self.gradient, scale=scale, state=state
            )
        else:  # fewer rows than ranks in a partial batch: this rank adds nothing
            self.gradient.fill(0.0)
            loss = 0.0
        self.tail[:] = (loss, 1.0 if signalled else 0.0, seconds)
        step = self.trainer.optimizer_step
        self.allreduce_seconds += self.world.allreduce_sum(self.buffer, step)
        # Not applied when the norm is not finite, nor when the reduced loss is not
        # (the same on every rank: no rank applies the step).
        finite = math.isfinite(float(self.tail[_LOSS]))
        norm = self.trainer.apply_gradient(self.gradient) if finite else float("nan")
        self.interrupted = self.interrupted or bool(self.tail[_INTERRUPTED] > 0)
        self.seconds = float(self.tail[_SECONDS]) / self.world.size
        self.steps += 1
        if self.trainer.optimizer_step % self.check_every == 0:
            self.verify()
        return float(self.tail[_LOSS]), norm

    def verify(self) -> None:
        """Stops with DistributedError on every rank when the ranks' parameters differ."""
        params = self.trainer.model.parameters()
        mine = checksum(np.concatenate([p.ravel() for p in params.values()]))
        sums = self.world.gather(mine)
        odd = [r for r, s in enumerate(sums) if s != sums[0]]
        if odd:
            raise DistributedError(
                f"rank(s) {', '.join(map(str, odd))} hold different parameters than rank 0 at step "
                f"{self.trainer.optimizer_step} (checksums {sums}): the ranks diverged; stopping"
            )

    # -- carried states: each rank holds its rows, a checkpoint the whole batch --------
    def local_state(self, model: Model, state: RecurrentState) -> RecurrentState:
        """This rank's rows of a state of the whole global batch."""
        start, end = self.rows
        out = model.new_state(self.row_count)
        out.set_tensors([[t[start:end] for t in layer] for layer in state.tensors()])
        return out

    def global_state(self, model: Model, state: RecurrentState) -> RecurrentState:
        """The whole batch's state from every rank's rows (a collective: every rank calls it)."""
        parts: list[list[list[npt.NDArray[np.float32]]]] = self.world.gather(state.tensors())
        layers = [
            [np.concatenate([p[i][j] for p in parts]) for j in range(len(layer))] for i, layer in enumerate(parts[0])
        ]
        out = model.new_state(self.batch_size)
        out.set_tensors(layers)
        return out
