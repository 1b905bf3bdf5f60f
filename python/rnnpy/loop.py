"""The loop behind ``rnnpy.training.train``: one epoch at a time, chunks of
batches handed to Rust, the budget checked before each chunk, evaluations
where the plan puts them, and an interrupted epoch rolled back.

Ctrl-C (``rnnpy.interrupt``) stops the core within a time step in one
process: a call then returns the steps it finished (the interrupted one is
not applied), or raises KeyboardInterrupt for a single step or an
evaluation, and the epoch is rolled back. A data-parallel rank never stops a
step on its own: the ranks agree on Ctrl-C through each step's all-reduce
and stop after the same step. A step whose loss or gradient norm is not
finite was not applied by the core; it raises DivergenceError here unless
``skip_non_finite``."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from itertools import islice

import numpy as np

from rnnpy.batching import Batch, BatchSource
from rnnpy.data_parallel import DataParallel
from rnnpy.errors import DivergenceError
from rnnpy.evaluation import Score
from rnnpy.interrupt import StopFlag
from rnnpy.model import Model, RecurrentState
from rnnpy.progress import EpochResult, EvalResult, FitResult, Position, Tick
from rnnpy.schedule import Plan
from rnnpy.trainer import Trainer

CHUNK_TOKENS = 32_768  # about this many tokens per call into Rust


class Loop:
    """One call of `train`: its clock, the budget, the epochs, the evaluations."""

    def __init__(
        self,
        trainer: Trainer,
        source: BatchSource,
        plan: Plan,
        rng: np.random.Generator,
        evaluate: Callable[[Model], Score] | None,
        pos: Position,
        on_epoch: Callable[[EpochResult], None] | None,
        on_eval: Callable[[EvalResult], None] | None,
        on_tick: Callable[[Tick], None] | None,
        stop: StopFlag | None,
        parallel: DataParallel | None = None,
        skip_non_finite: bool = False,
    ) -> None:
        self.trainer, self.source, self.plan, self.rng = trainer, source, plan, rng
        self.evaluate, self.pos = evaluate, pos
        self.on_epoch, self.on_eval, self.on_tick = on_epoch, on_eval, on_tick
        self.stop = stop or StopFlag()
        self.parallel = parallel  # a data-parallel rank: its share of each step, the agreed clock and Ctrl-C
        self.skip_non_finite = skip_non_finite
        self.skipped = 0  # steps of the current epoch not applied (non-finite, skip_non_finite)
        self.t0 = time.perf_counter()
        self.seconds0 = pos.seconds
        self.tokens = 0
        self.best: float | None = None
        self.last: float | None = None
        self.since_eval: list[float] = []
        self.last_eval: EvalResult | None = None
        per_step = source.batch_size * source.seq_length
        constant_rate = plan.schedule is None or plan.schedule.is_constant
        # Several steps per call only when nothing changes between them (the rate, a carried state).
        self.chunk = max(1, CHUNK_TOKENS // per_step) if constant_rate and not source.carries_state else 1

    # -- the clock and the budget ------------------------------------------------
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def seconds(self) -> float:
        """Training seconds over every session; a data-parallel run reads the
        ranks' agreed clock, so that budgets and schedules agree on every rank."""
        return self.seconds0 + (self.parallel.seconds if self.parallel is not None else self.elapsed())

    def stopping(self) -> bool:
        """Ctrl-C was seen (by any rank, in a data-parallel run)."""
        return self.parallel.interrupted if self.parallel is not None else self.stop.is_set

    def progress(self) -> float:
        pos, steps = self.pos, self.trainer.optimizer_step
        return self.plan.budget.progress(pos.epochs_done(self.source.steps_per_epoch), steps, self.seconds())

    def result(self, stopped: str) -> FitResult:
        if stopped != "interrupted":  # an interrupted epoch was rolled back, its time included
            self.pos.seconds = self.seconds()
        return FitResult(
            self.pos.epoch,
            self.best,
            self.last,
            stopped == "interrupted",
            self.elapsed(),
            stopped,
            self.pos,
            self.last_eval,
        )

    # -- the run -------------------------------------------------------------------
    def run(self) -> FitResult:
        stopped = "epochs"
        while self.pos.epoch < self.plan.budget.epochs:
            stopped = self.run_epoch()
            if stopped != "epochs":
                break
        if stopped == "interrupted":
            return self.result(stopped)
        final = self.evaluate is not None and self.pos.last_eval_step != self.trainer.optimizer_step
        if final and self.evaluation(final=True) == "interrupted":
            return self.result("interrupted")
        return self.result(stopped)

    def run_epoch(self) -> str:
        """One epoch from the current position; returns why it ended early, or "epochs"."""
        pos, source, trainer = self.pos, self.source, self.trainer
        pos.rng_state = copy.deepcopy(self.rng.bit_generator.state)
        if source.carries_state and (pos.batch == 0 or pos.stream is None):
            pos.stream = trainer.model.new_state(self.stream_rows())
        snapshot = _Snapshot(trainer, pos)  # Ctrl-C can stop the core inside any call, even an epoch's only one
        self.skipped = 0
        e0 = time.perf_counter()
        losses: list[float] = []
        norms: list[float] = []
        epoch_tokens = source.steps_per_epoch * source.batch_size * source.seq_length
        done_tokens = pos.batch * source.batch_size * source.seq_length
        session_tokens = 0
        batches = source.epoch(self.rng, pos.batch)
        while pos.batch < source.steps_per_epoch:
            reason = self.plan.budget.reached(trainer.optimizer_step, self.seconds())
            if reason is not None:
                self.partial_epoch(losses)
                return reason
            group = list(islice(batches, self.steps_in_next_call()))
            if not group:
                break
            raw, raw_norms = self.train_on(group)
            done = len(raw)  # fewer than the group: Ctrl-C stopped the call (or the ranks agreed to stop)
            ls, ns = self.finite(raw, raw_norms)
            if done < len(group):
                snapshot.restore(trainer, pos, self.rng)
                return "interrupted"
            losses += ls
            norms += ns
            self.since_eval += ls
            pos.batch += done
            tokens = sum(b.inputs.size for b in group)
            self.tokens += tokens
            done_tokens += tokens
            session_tokens += tokens
            if self.on_tick is not None:
                self.on_tick(
                    Tick(
                        self.progress(),
                        pos.epochs_done(source.steps_per_epoch),
                        trainer.optimizer_step,
                        raw[-1],
                        self.tokens,
                        self.elapsed(),
                        done_tokens,
                        epoch_tokens,
                    )
                )
            if self.stopping() and pos.batch < source.steps_per_epoch:
                snapshot.restore(trainer, pos, self.rng)
                return "interrupted"
            every = self.plan.eval_every.steps
            due = every > 0 and trainer.optimizer_step % every == 0 and self.evaluate is not None
            why = self.evaluation() if due else None
            if why == "interrupted":
                snapshot.restore(trainer, pos, self.rng)
                return "interrupted"
            if why == "patience":
                self.partial_epoch(losses)
                return "patience"
        pos.epoch, pos.batch, pos.stream = pos.epoch + 1, 0, None
        pos.rng_state = copy.deepcopy(self.rng.bit_generator.state)  # the next epoch starts here
        self.epoch_done(losses, norms, session_tokens, e0)
        every = self.plan.eval_every.epochs
        due = every > 0 and pos.epoch % every == 0 and self.evaluate is not None
        why = self.evaluation() if due and pos.last_eval_step != trainer.optimizer_step else None
        if why is not None:  # patience, or Ctrl-C during it (the epoch is complete)
            return why
        return "interrupted" if self.stopping() else "epochs"

    def steps_in_next_call(self) -> int:
        """The chunk, cut at the next step-counted evaluation and at --maxSteps."""
        n, step = self.chunk, self.trainer.optimizer_step
        every = self.plan.eval_every.steps
        if every > 0:
            n = min(n, every - step % every)
        if self.plan.budget.max_steps > 0:
            n = min(n, max(1, self.plan.budget.max_steps - step))
        return n

    def train_on(self, group: list[Batch]) -> tuple[list[float], list[float]]:
        """One call into Rust for the group (one batch when the rate or a state
        changes per step): the losses and norms of the steps it took, fewer
        than the group when Ctrl-C stopped it or after a non-finite step."""
        trainer, schedule = self.trainer, self.plan.schedule
        if schedule is not None:
            trainer.learning_rate = schedule.at(trainer.optimizer_step, self.progress())
        if self.parallel is not None:
            return self.parallel_steps(group)
        if self.source.carries_state:
            (batch,) = group
            try:
                loss, norm = trainer.step(batch.inputs, batch.targets, state=self.pos.stream)
            except KeyboardInterrupt:  # the core stopped at the first Ctrl-C: nothing was applied
                if not self.interrupted_cleanly():
                    raise
                return [], []
            return [loss], [norm]
        losses: list[float] = []
        norms: list[float] = []
        for run in _same_shape_runs(group):  # the last batch of a shuffled epoch may be partial
            x, y = np.stack([b.inputs for b in run]), np.stack([b.targets for b in run])
            ls, ns = trainer.steps(x, y, skip_non_finite=self.skip_non_finite)
            losses += np.asarray(ls, dtype=np.float64).tolist()
            norms += np.asarray(ns, dtype=np.float64).tolist()
            if len(ls) < len(run):
                break
        return losses, norms

    def parallel_steps(self, group: list[Batch]) -> tuple[list[float], list[float]]:
        """The group's steps as one rank of a data-parallel run (one all-reduce
        each), up to the step after which the ranks agree that Ctrl-C came:
        every rank stops after the same step, never inside one."""
        assert self.parallel is not None
        state = self.pos.stream if self.source.carries_state else None
        losses: list[float] = []
        norms: list[float] = []
        for b in group:
            loss, norm = self.parallel.step(b, state, self.elapsed(), self.stop.is_set)
            losses.append(loss)
            norms.append(norm)
            finite = math.isfinite(loss) and math.isfinite(norm)
            if self.parallel.interrupted or not (finite or self.skip_non_finite):
                break
        return losses, norms

    def interrupted_cleanly(self) -> bool:
        """A KeyboardInterrupt from the core is the first Ctrl-C's clean stop
        (then the loop rolls back), not the second's abort."""
        return self.stop.is_set and not self.stop.aborted

    def finite(self, losses: list[float], norms: list[float]) -> tuple[list[float], list[float]]:
        """The steps whose loss and norm are finite; a non-finite one (which
        the core did not apply) is DivergenceError, or with skip_non_finite
        is counted — unless the weights themselves are no longer finite."""
        ok_l: list[float] = []
        ok_n: list[float] = []
        for i, (loss, norm) in enumerate(zip(losses, norms)):
            if math.isfinite(loss) and math.isfinite(norm):
                ok_l.append(loss)
                ok_n.append(norm)
            elif self.skip_non_finite and self.trainer.model.is_finite():
                self.skipped += 1
            else:
                step = self.pos.batch + i + 1
                raise self.diverged(f"at epoch {self.pos.epoch + 1}, step {step}", loss, norm)
        return ok_l, ok_n

    def diverged(self, where: str, loss: float, norm: float) -> DivergenceError:
        last = self.last
        before = "no epoch of this run had finished" if last is None else f"the last finite epoch loss was {last:.6f}"
        return DivergenceError(f"training diverged {where} (loss {loss}, gradient norm {norm}); {before}")

    def stream_rows(self) -> int:
        """Rows of the carried state this process holds: its share of the batch in a data-parallel run."""
        return self.source.batch_size if self.parallel is None else self.parallel.row_count

    def partial_epoch(self, losses: list[float]) -> None:
        """A run that ends inside an epoch: its loss so far counts as that epoch's."""
        if losses:
            self.last = float(np.mean(losses))
            self.best = self.last if self.best is None else min(self.best, self.last)

    def epoch_done(self, losses: list[float], norms: list[float], tokens: int, e0: float) -> None:
        if not losses and self.skipped:
            nan = float("nan")
            raise self.diverged(f"in epoch {self.pos.epoch}, every one of its {self.skipped} steps", nan, nan)
        self.pos.seconds = self.seconds()
        loss = float(np.mean(losses)) if losses else float("nan")
        self.last = loss
        self.best = loss if self.best is None else min(self.best, loss)
        now = time.perf_counter()
        if self.on_epoch is not None:
            norm = float(np.mean(norms)) if norms else float("nan")
            self.on_epoch(EpochResult(self.pos.epoch, loss, norm, tokens, now - e0, now - self.t0, self.skipped))

    def evaluation(self, final: bool = False) -> str | None:
        """Scores the held-out text; returns "patience" when it ran out, and
        "interrupted" when Ctrl-C stopped the core during it."""
        assert self.evaluate is not None
        pos, step = self.pos, self.trainer.optimizer_step
        try:
            s = self.evaluate(self.trainer.model)
        except KeyboardInterrupt:
            if not self.interrupted_cleanly():
                raise
            return "interrupted"
        improved = pos.best_val is None or s.loss < pos.best_val
        if improved:
            pos.best_val, pos.best_step, pos.stale = s.loss, step, 0
        else:
            pos.stale += 1
        pos.last_eval_step = step
        pos.seconds = self.seconds()
        train_loss = float(np.mean(self.since_eval)) if self.since_eval else None
        self.since_eval = []
        epoch = pos.epochs_done(self.source.steps_per_epoch)
        self.last_eval = EvalResult(step, epoch, s, improved, train_loss, self.elapsed(), final, pos)
        if self.on_eval is not None:
            self.on_eval(self.last_eval)
        if self.plan.patience > 0 and pos.stale >= self.plan.patience and not final:
            return "patience"
        return None


def _same_shape_runs(group: list[Batch]) -> list[list[Batch]]:
    runs: list[list[Batch]] = []
    for b in group:
        if runs and runs[-1][0].inputs.shape == b.inputs.shape:
            runs[-1].append(b)
        else:
            runs.append([b])
    return runs


class _Snapshot:
    """The model, AdamW and the position at an epoch's start: what an
    interrupted epoch rolls back to."""

    def __init__(self, trainer: Trainer, pos: Position) -> None:
        self.params = trainer.model.parameters()
        self.state = trainer.state()
        self.pos = copy.copy(pos)
        self.stream = _copy_state(trainer.model, pos.stream)

    def restore(self, trainer: Trainer, pos: Position, rng: np.random.Generator) -> None:
        trainer.model.set_parameters(self.params)
        trainer.set_state(*self.state)
        for name in vars(self.pos):
            setattr(pos, name, getattr(self.pos, name))
        pos.stream = self.stream
        assert pos.rng_state is not None
        rng.bit_generator.state = pos.rng_state


def _copy_state(model: Model, state: RecurrentState | None) -> RecurrentState | None:
    if state is None:
        return None
    out = model.new_state(state.batch)
    out.set_tensors(state.tensors())
    return out
