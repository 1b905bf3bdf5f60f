"""``python -m rnnpy train``: the old program's workflow — tokenize, train,
log, save, then print a sample — with resume, periodic saves, Ctrl-C saves
and metrics; and, beyond it, a held-out validation text, the best model
kept, learning-rate schedules, time and step budgets and three ways of
batching (docs/training.md).

Deviation from the old program, on purpose: options are checked (unknown
names, bad values, missing files are errors, not silently ignored), and
windows follow spec/MODEL.md exactly (the old loop also dropped the last full
window when the text divided evenly). Without the new options a command line
trains exactly as it did.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from typing import Any

import numpy as np

from rnnpy import __version__, _core
from rnnpy.batching import BatchSource, batch_source
from rnnpy.checkpoint import Checkpoint, load_checkpoint
from rnnpy.cli import bpe
from rnnpy.cli.commands import TrainArgs
from rnnpy.cli.console import Reporter
from rnnpy.cli.data import check_output, checkpoint_vocab, file_mb, save_model, training_text
from rnnpy.cli.evaluate import outside
from rnnpy.cli.generate import resolve_seed, sample, start_text
from rnnpy.cli.options import ModelOptions, option_names
from rnnpy.cli.parser import record, restored
from rnnpy.cli.rl import check_task_vocab, rl_interrupted_path, run_phase, task_vocabulary
from rnnpy.cli.split import Texts, check_val_length, split
from rnnpy.cli.train_log import RunLog, best_path, epoch_path
from rnnpy.data_parallel import DataParallel
from rnnpy.distributed import Single, World, check_same, connect, fingerprint
from rnnpy.errors import DivergenceError, InputError, TextTooShortError, UsageError, VocabularyError
from rnnpy.evaluation import Score, score
from rnnpy.metadata import RLRecord, RngState, RunMetadata, ValRecord
from rnnpy.model import Model, RecurrentState
from rnnpy.tokenizer import BPETokenizer
from rnnpy.trainer import Trainer
from rnnpy.training import (
    EvalResult,
    FitResult,
    Plan,
    Position,
    StopFlag,
    catch_sigint,
    state_from_values,
    state_values,
    train,
)
from rnnpy.vocab import BPEVocab, CharVocab, Vocab

__all__ = ["Run", "best_path", "epoch_path", "run"]

#: Memory per character of training text while it is tokenized and cut into
#: windows (a Python list of ids, then two int64 arrays), measured: 20-25 bytes.
TEXT_BYTES_PER_CHAR = 32


def _check_text_memory(text: str, source: str) -> None:
    need, available = len(text) * TEXT_BYTES_PER_CHAR, _core.available_memory()
    if available is not None and need > available:
        raise UsageError(
            f"{source}: {len(text):,} characters need about {need / 1e9:.1f} GB of memory to tokenize and train on, "
            f"but {available / 1e9:.1f} GB is available: use a shorter text"
        )


class Run:
    """One training run: what is needed to save a checkpoint at any point."""

    def __init__(self, args: TrainArgs, out: Reporter, world: World | None = None) -> None:
        self.args = args
        self.out = out
        self.world = world or Single()
        self.parallel: DataParallel | None = None  # set in prepare() when there are several ranks
        self.resumed: Checkpoint | None = None
        self.resumed_meta = RunMetadata()
        self.seed = self.world.broadcast(resolve_seed(args.run))  # a random seed is rank 0's
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        self.val_ids: np.ndarray | None = None

    # -- set-up ----------------------------------------------------------------
    def prepare(self) -> None:
        self._check_outputs()
        if self.args.checkpoint.load_checkpoint:
            self.resumed = load_checkpoint(self.args.checkpoint.load_checkpoint)
            self.resumed_meta = RunMetadata.of(self.resumed)
            self._restore_options()
        args = self.args
        self.options = record(args, "train")
        text, self.source = training_text(args.data, args.given)
        self.texts = split(text, self.source, args.validation)
        self.text = self.texts.train
        self.vocab = self._vocabulary()
        self.start = self.text[:1] if self.resumed is None else start_text(self.resumed_meta, self.text)
        _check_text_memory(self.text, self.source)
        self.batches = self._batches()
        self._validation_text(self.texts)
        self.model, self.trainer, self.position = self._model()
        self.start_epoch = self.position.epoch  # `position` advances as the run trains
        if self.world.size > 1:
            self._join_ranks(text)
        if args.rl.do_rl:
            check_task_vocab(self.vocab, args.rl.task)

    def _check_outputs(self) -> None:
        """Every file the run may write, checked before any work: a bad path
        fails now, not after hours of training. Messages name only the
        options the command line gave."""
        a = self.args
        c, b = a.checkpoint, a.bpe
        saved = "--savePath" if "savePath" in a.given else ""
        check_output(c.save_path, saved)  # written at the end, at Ctrl-C, or both
        if c.save_every > 0:
            check_output(epoch_path(c.save_path, c.save_every), "--saveEvery")
        if a.validation.save_best:
            check_output(best_path(c.save_path), "--saveBest")
        if b.use_bpe and not b.load_path and not c.load_checkpoint:
            # the tokenizer trained first
            check_output(b.save_path, "--bpeSavePath" if "bpeSavePath" in a.given else "")
        parent = os.path.dirname(c.save_path) or "."
        if not (os.path.isdir(parent) or not os.path.exists(parent)) or (
            os.path.isdir(parent) and not os.access(parent, os.W_OK)
        ):
            raise UsageError(f"{saved + ': ' if saved else ''}cannot write the checkpoint into {parent}")

    def _join_ranks(self, text: str) -> None:
        """Every rank must train the same run: same options, same text, same
        starting weights; then each takes its share of every batch."""
        if self.args.rl.do_rl:
            raise UsageError("--doRL runs in one process: train with MPI, then run `rnnpy rl` on the checkpoint")
        options = json.dumps(self.options, sort_keys=True, default=str)
        check_same(self.world, "options", fingerprint(options))
        check_same(self.world, "training text", fingerprint(text, self.texts.val or ""))
        self.parallel = DataParallel(self.trainer, self.world, self.batches.batch_size)
        self.parallel.verify()
        if self.position.stream is not None:  # a resumed stateful run: this rank's rows of the saved streams
            self.position.stream = self.parallel.local_state(self.model, self.position.stream)

    def _restore_options(self) -> None:
        """A resumed run trains on with the checkpoint's training settings (rate,
        batches, schedule, budgets, validation) unless the command line gives them."""
        self.args, bad = restored(self.args, self.resumed_meta.options, "train")
        for name in bad:
            self.out.warn(f"{self.args.checkpoint.load_checkpoint} records a {name} this version cannot read: ignored")

    def _vocabulary(self) -> Vocab:
        args, b = self.args, self.args.bpe
        if self.resumed is not None:
            path = args.checkpoint.load_checkpoint
            size = self.resumed.config.vocab_size
            return checkpoint_vocab(self.resumed_meta, size, args.data, b, args.given, path)[0]
        if not b.use_bpe and args.rl.do_rl:
            return task_vocabulary(self.texts.both, self.source, args.rl.task, self.out.line)
        if not b.use_bpe:
            return CharVocab.from_text(self.texts.both)
        if b.load_path:
            tok = BPETokenizer.load(b.load_path)
            self.out.line(f"Loaded BPE from {b.load_path} (vocab={tok.vocab_size}, merges={len(tok.merges)})")
        else:  # as the old program: train one on the training text first
            tok = bpe.train_and_save(self.text, b, self.out)
        self.out.line(f"Tokenizer: BPE (vocab={tok.vocab_size})")
        return BPEVocab(tok)

    def _batches(self) -> BatchSource:
        """The training batches. A resumed run with no epochs left trains on
        nothing, so its text need not fit the checkpoint's vocabulary: the old
        program's README fine-tunes with `--loadCheckpoint=... --epochs=0
        --doRL=true` and no text (the built-in sample)."""
        t = self.args.training
        try:
            ids = np.asarray(self.vocab.encode(self.text))
        except VocabularyError as e:
            nothing_to_train = self.resumed is not None and t.epochs <= self.resumed_meta.epoch
            if not nothing_to_train:
                raise UsageError(f"{self.source}: {e}") from None
            ids = np.zeros(t.batch_size * t.seq_length + 1, dtype=np.int64)  # never trained on
        try:
            return batch_source(t.batching, ids, t.seq_length, t.batch_size)
        except TextTooShortError as e:
            raise UsageError(f"{self.source}: {e}") from None

    def _validation_text(self, texts: Texts) -> None:
        if texts.val is None or texts.val_source is None:
            return
        problem = outside(self.vocab, texts.val)
        if problem:
            raise UsageError(f"{texts.val_source} has {problem}: the model cannot be validated on it")
        self.val_ids = np.asarray(self.vocab.encode(texts.val))
        check_val_length(len(self.val_ids), self.args.training.seq_length, texts.val_source)
        first = self.vocab.decode([int(self.val_ids[0])]) if self.vocab.kind == "bpe" else texts.val[:1]
        self.val_chars = len(texts.val) - len(first)

    def validate(self, model: Model) -> Score:
        assert self.val_ids is not None
        return score(model, self.val_ids, chars=self.val_chars)

    def reinforce(self, stop: StopFlag) -> tuple[RLRecord, bool]:
        """GRPO on the trained model with a fresh AdamW (whose state the
        checkpoint then carries); returns what its metadata records of the
        run, and whether Ctrl-C stopped it."""
        rl = self.args.rl
        config = rl.grpo_config(self.seed)
        report, self.trainer = run_phase(
            self.model, self.vocab, rl.task, rl.episodes, config, self.out.line, self.args.run.metrics_file, stop
        )
        return report.record(config), report.interrupted

    def _batch_shape(self) -> tuple[int, int]:
        """The largest batch a step trains on: refused up front when it does not fit in memory."""
        b = self.batches
        return min(b.batch_size, max(1, b.tokens_per_epoch // b.seq_length)), b.seq_length

    def _model(self) -> tuple[Model, Trainer, Position]:
        args, t = self.args, self.args.training
        ck = self.resumed
        if ck is None:
            config = args.model.config(self.vocab.size)
            config.check_training_memory(*self._batch_shape())  # refused up front, with both sizes
            model = Model(config, seed=self.seed)
            return model, Trainer(model, t.learning_rate, t.weight_decay, t.grad_clip), Position()
        ck.config.check_training_memory(*self._batch_shape())
        path = args.checkpoint.load_checkpoint
        for field, name in option_names(ModelOptions).items():
            ours, theirs = getattr(args.model, field), getattr(ck.config, field)
            if name in args.given and ours != theirs:
                self.out.warn(
                    f"--{name}={ours} ignored: {path} has {name}={theirs} (the checkpoint's architecture is used)"
                )
        self._restore_rng()
        self.out.line(f"Loaded binary checkpoint from {path} ({ck.config.num_parameters()} params, {file_mb(path)} MB)")
        trainer = ck.trainer(t.learning_rate, t.weight_decay, t.grad_clip)
        if ck.optimizer_step > 0:
            self.out.line(f"Restored optimizer step: {ck.optimizer_step}")
        return ck.model, trainer, self._restore_position(ck.model)

    def _restore_rng(self) -> None:
        """Continue the batch RNG of the saved run (unless --seed is given), so
        that a resumed run trains exactly like an uninterrupted one."""
        meta = self.resumed_meta
        if "seed" in self.args.given or meta.rng is None:
            return
        self.seed = meta.seed if meta.seed is not None else self.seed
        meta.rng.restore(self.rng)

    def _restore_position(self, model: Model) -> Position:
        """Where in its epoch the saved run was; an epoch whose batches no
        longer line up (another text, batching, batch size or window) restarts."""
        meta = self.resumed_meta
        pos = meta.position or Position()
        pos.epoch = meta.epoch
        if pos.batch == 0:
            return pos
        b, recorded = self.batches, meta.options
        same = (recorded.get("batching", "shuffled"), recorded.get("batchSize"), recorded.get("seqLength")) == (
            b.kind,
            b.batch_size,
            b.seq_length,
        )
        stream_fits = not b.carries_state or (meta.stream is not None and self._stream(model, pos))
        if not same or pos.batch >= b.steps_per_epoch or not stream_fits:
            self.out.warn(f"the saved run's batches differ from this one's: epoch {pos.epoch + 1} restarts")
            pos.batch, pos.stream = 0, None
        return pos

    def _stream(self, model: Model, pos: Position) -> bool:
        assert self.resumed_meta.stream is not None
        try:
            pos.stream = state_from_values(model, self.resumed_meta.stream)
        except InputError:
            return False
        return pos.stream.batch == self.batches.batch_size

    # -- checkpoints -------------------------------------------------------------
    def metadata(self, pos: Position, loss: float | None, val: EvalResult | None = None, **run: Any) -> RunMetadata:
        rng = RngState.of_bits(pos.rng_state) if pos.rng_state is not None else RngState.of(self.rng)
        return RunMetadata(
            epoch=pos.epoch,
            loss=loss,
            version=__version__,
            vocab=self.vocab,
            start=self.start,
            seed=self.seed,
            rng=rng,
            options=self.options,
            position=pos,
            stream=state_values(self._whole(pos.stream)) if pos.stream is not None and pos.batch > 0 else None,
            val=ValRecord(val.step, val.score) if val is not None else self.resumed_meta.val,
            **run,
        )

    def _whole(self, stream: RecurrentState) -> RecurrentState:
        """The carried state of every row (gathered from the ranks: every rank calls this)."""
        return self.parallel.global_state(self.model, stream) if self.parallel is not None else stream

    def save(
        self,
        path: str,
        meta: RunMetadata,
        quiet: bool = False,
        model: Model | None = None,
        trainer: Trainer | None = None,
    ) -> None:
        """Writes the checkpoint (rank 0 alone in a data-parallel run: the others hold the same)."""
        if not self.world.is_root:
            return
        line = save_model(path, model or self.model, trainer or self.trainer, meta)
        if not quiet:
            self.out.line(line)

    # -- the run -------------------------------------------------------------------
    def _allreduce_line(self, elapsed: float) -> str:
        p = self.parallel
        assert p is not None
        per_step = p.allreduce_seconds / max(p.steps, 1)
        share = p.allreduce_seconds / elapsed * 100 if elapsed > 0 else 0.0
        return f"All-reduce: {per_step * 1e3:.2f} ms per step on rank 0 ({share:.1f}% of the run), {p.steps} steps"

    def plan(self) -> Plan:
        t, v = self.args.training, self.args.validation
        schedule = t.schedule()
        return Plan(t.budget(), None if schedule.is_constant else schedule, v.eval_every(), v.patience)

    def train(self) -> int:
        log = RunLog(self)
        log.header()
        self.out.line("\nTraining...\n")
        metrics_file = self.args.run.metrics_file
        with contextlib.ExitStack() as stack:
            writes = metrics_file and self.world.is_root
            metrics = stack.enter_context(open(metrics_file, "a", encoding="utf-8")) if writes else None
            log.metrics = metrics
            stop = StopFlag()
            # Training, RL and their saves; the sample after them is a plain command. A
            # data-parallel rank never stops the core inside a step (rnnpy.data_parallel).
            with catch_sigint(stop, stop_core=self.parallel is None):
                status = self._train(log, stop)
            if status == 0:
                self._sample()
            return status

    def _train(self, log: RunLog, stop: StopFlag) -> int:
        a, out = self.args, self.out
        out.start_training(log.bar_title())
        try:
            result = train(
                self.trainer,
                self.batches,
                self.plan(),
                rng=self.rng,
                evaluate=self.validate if self.val_ids is not None else None,
                at=self.position,
                on_epoch=log.on_epoch,
                on_eval=log.on_eval,
                on_tick=out.tick,
                stop=stop,
                parallel=self.parallel,
                skip_non_finite=a.training.skip_non_finite,
            )
        except DivergenceError as e:
            raise DivergenceError(f"{e}. {self._divergence_advice()}") from None
        finally:
            out.stop_training()
        if result.interrupted:
            return self._save_interrupted(result)
        return self._finish(result, log, stop)

    def _finish(self, result: FitResult, log: RunLog, stop: StopFlag) -> int:
        a, out = self.args, self.out
        best = result.best_loss if result.best_loss is not None else self.resumed_meta.loss
        log.stopped(result)
        best_text = f"{best:.6f}" if best is not None else "inf"
        out.line(f"\nDone in {result.elapsed:.1f}s | Best loss: {best_text}\n")
        if self.parallel is not None:
            self.parallel.verify()
            out.line(self._allreduce_line(result.elapsed) + "\n")
        log.validation_summary(result)
        done = self.metadata(result.position, best, result.last_eval, completed=True, time=f"{result.elapsed:.1f}")
        done = dataclasses.replace(done, last_loss=result.last_loss)
        rl = None
        if a.rl.do_rl:
            supervised = self.model.copy(), self.trainer.state()  # saved instead if Ctrl-C stops RL
            out.line("Reinforcement learning...\n")
            rl, interrupted = self.reinforce(stop)
            out.line("")
            if interrupted:
                return self._save_rl_interrupted(done, rl, *supervised)
        if a.checkpoint.save_on_complete:
            self.save(a.checkpoint.save_path, dataclasses.replace(done, rl=rl))
        return 0

    def _sample(self) -> None:
        g = self.args.generation
        if g.gen_length > 0 and self.world.is_root:
            self.out.line("\nGenerating post-RL sample...\n" if self.args.rl.do_rl else "\nGenerating sample...\n")
            sample(self.model, self.vocab, g.prompt or self.start, g, self.seed, self.out)

    def _divergence_advice(self) -> str:
        t, path = self.args.training, self.args.checkpoint.save_path
        kept = f"{path} is as it was" if os.path.exists(path) else f"nothing was saved to {path}"
        clip = "turn --gradClip on (e.g. 1.0)" if t.grad_clip == 0 else f"lower --gradClip (now {t.grad_clip})"
        skip = "" if t.skip_non_finite else ", or pass --skipNonFinite to skip such steps"
        return (
            f"No weights of the diverged run were saved ({kept}): lower --learningRate (now {t.learning_rate}) "
            f"or {clip}{skip}"
        )

    def _save_interrupted(self, result: FitResult) -> int:
        """Ctrl-C: the state after the last completed epoch goes to --savePath
        — unless this run completed none, when there is nothing new to save
        and an existing file there must not be replaced by an untrained model.
        (The same on every rank: the ranks agree on the epoch.)"""
        path, out, epoch = self.args.checkpoint.save_path, self.out, result.epoch
        if epoch == self.start_epoch:
            kept = f"{path} is as it was" if os.path.exists(path) else f"nothing was saved to {path}"
            out.line(f"\nInterrupted before epoch {epoch + 1} finished: nothing to save.")
            out.err.print(f"Interrupted: no epoch of this run completed, so {kept}", markup=False)
            return 130
        out.line(f"\nInterrupted after epoch {epoch}: saving it.")
        self.save(path, self.metadata(result.position, result.last_loss, interrupted=True))
        out.err.print(f"Interrupted: checkpoint of epoch {epoch} saved to {path}", markup=False)
        return 130

    def _save_rl_interrupted(
        self, done: RunMetadata, rl: RLRecord, model: Model, state: tuple[int, np.ndarray, np.ndarray]
    ) -> int:
        """Ctrl-C during RL: the supervised result goes to --savePath, as if RL
        had not been asked for, and the state RL reached beside it, marked
        interrupted — the supervised epochs are never lost."""
        path, t = self.args.checkpoint.save_path, self.args.training
        supervised = Trainer(model, t.learning_rate, t.weight_decay, t.grad_clip)
        supervised.set_state(*state)
        self.save(path, done, model=model, trainer=supervised)
        rl_path = rl_interrupted_path(path)
        self.save(rl_path, dataclasses.replace(done, rl=rl, completed=False, interrupted=True))
        self.out.err.print(
            f"Interrupted during RL: the supervised model is saved to {path}, the RL state reached "
            f"({rl.episodes} of {self.args.rl.episodes} episodes) to {rl_path}",
            markup=False,
        )
        return 130


def run(args: TrainArgs) -> int:
    world = connect(args.distributed.mode, args.distributed.timeout)
    out = Reporter(args.run.quiet, silent=not world.is_root)
    if args.bpe.train_bpe:
        bpe.train_only(args, out)
        return 0
    r = Run(args, out, world)
    r.prepare()
    return r.train()
