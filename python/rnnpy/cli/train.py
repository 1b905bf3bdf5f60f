"""``python -m rnnpy train``: the old program's workflow — tokenize, train,
log, save, then print a sample — with resume, periodic saves, Ctrl-C saves
and metrics.

Deviation from the old program, on purpose: options are checked (unknown
names, bad values, missing files are errors, not silently ignored), and
windows follow spec/MODEL.md exactly (the old loop also dropped the last full
window when the text divided evenly).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from typing import Any, TextIO

import numpy as np

from rnnpy import __version__, _core
from rnnpy.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rnnpy.cli import bpe
from rnnpy.cli.commands import TrainArgs
from rnnpy.cli.console import Reporter
from rnnpy.cli.data import check_output, checkpoint_vocab, training_text
from rnnpy.cli.generate import resolve_seed, sample, start_text
from rnnpy.cli.options import ModelOptions, option_names
from rnnpy.cli.parser import record
from rnnpy.cli.rl import rl_interrupted_path, run_phase
from rnnpy.errors import DivergenceError, TaskError, TextTooShortError, UsageError
from rnnpy.interrupt import StopFlag, catch_sigint
from rnnpy.metadata import RLRecord, RngState, RunMetadata
from rnnpy.model import Model
from rnnpy.rl.tasks import check_vocab, get_task
from rnnpy.tokenizer import BPETokenizer
from rnnpy.trainer import Trainer
from rnnpy.training import EpochResult, fit, make_windows
from rnnpy.vocab import BPEVocab, CharVocab, Vocab


def epoch_path(path: str, epoch: int) -> str:
    """``model.bin`` -> ``model_epoch50.bin``; only the file's own extension
    is touched (``runs.bin/model`` -> ``runs.bin/model_epoch50``)."""
    root, ext = os.path.splitext(path)
    return f"{root}_epoch{epoch}{ext}"


def file_mb(path: str) -> str:
    return f"{os.path.getsize(path) / 1_048_576:.2f}"


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

    def __init__(self, args: TrainArgs, out: Reporter) -> None:
        self.args = args
        self.out = out
        self.resumed: Checkpoint | None = None
        self.resumed_meta = RunMetadata()
        self.seed = resolve_seed(args.run)
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        self.options = record(args, "train")

    # -- set-up ----------------------------------------------------------------
    def prepare(self) -> None:
        args = self.args
        self._check_outputs()
        if args.checkpoint.load_checkpoint:
            self.resumed = load_checkpoint(args.checkpoint.load_checkpoint)
            self.resumed_meta = RunMetadata.of(self.resumed)
        self.text, self.source = training_text(args.data, args.given)
        self.vocab = self._vocabulary()
        self.start = self.text[:1] if self.resumed is None else start_text(self.resumed_meta, self.text)
        _check_text_memory(self.text, self.source)
        try:
            self.inputs, self.targets = make_windows(self.vocab.encode(self.text), args.training.seq_length)
        except TextTooShortError as e:
            raise UsageError(f"{self.source}: {e}") from None
        self.model, self.trainer, self.start_epoch = self._model()
        if args.rl.do_rl:
            self._check_rl()

    def _check_outputs(self) -> None:
        """Every file the run may write, checked before any work: a bad path
        fails now, not after hours of training."""
        c, b = self.args.checkpoint, self.args.bpe
        check_output(c.save_path, "--savePath")  # written at the end, at Ctrl-C, or both
        if c.save_every > 0:
            check_output(epoch_path(c.save_path, c.save_every), "--saveEvery")
        if b.use_bpe and not b.load_path and not c.load_checkpoint:
            check_output(b.save_path, "--bpeSavePath")  # the tokenizer trained first

    def _vocabulary(self) -> Vocab:
        args, b = self.args, self.args.bpe
        if self.resumed is not None:
            path = args.checkpoint.load_checkpoint
            size = self.resumed.config.vocab_size
            return checkpoint_vocab(self.resumed_meta, size, args.data, b, args.given, path)[0]
        if not b.use_bpe:
            return CharVocab.from_text(self.text)
        if b.load_path:
            tok = BPETokenizer.load(b.load_path)
            self.out.line(f"Loaded BPE from {b.load_path} (vocab={tok.vocab_size}, merges={len(tok.merges)})")
        else:  # as the old program: train one on the training text first
            tok = bpe.train_and_save(self.text, b, self.out)
        self.out.line(f"Tokenizer: BPE (vocab={tok.vocab_size})")
        return BPEVocab(tok)

    def _check_rl(self) -> None:
        """RL needs characters, including the task's and a newline: find out
        before training, not after."""
        if not isinstance(self.vocab, CharVocab):
            raise UsageError(
                "--doRL: reinforcement learning needs a character-level model; this one uses a BPE tokenizer "
                "(drop --useBPE)"
            )
        try:
            check_vocab(self.vocab, get_task(self.args.rl.task))
        except TaskError as e:
            raise UsageError(f"--rlTask={self.args.rl.task}: {e}") from None

    def reinforce(self, stop: StopFlag) -> tuple[RLRecord, bool]:
        """GRPO on the trained model, continuing the supervised AdamW state;
        returns what the checkpoint's metadata records of the run, and
        whether Ctrl-C stopped it."""
        rl = self.args.rl
        config = rl.grpo_config(self.seed)
        assert isinstance(self.vocab, CharVocab)  # _check_rl
        report = run_phase(self.model, self.trainer, self.vocab, rl.task, rl.episodes, config, self.out.line, stop)
        return report.record(config), report.interrupted

    def _model(self) -> tuple[Model, Trainer, int]:
        args, t = self.args, self.args.training
        ck = self.resumed
        batch = min(t.batch_size, len(self.inputs))
        if ck is None:
            config = args.model.config(self.vocab.size)
            config.check_training_memory(batch, t.seq_length)  # refused up front, with both sizes
            model = Model(config, seed=self.seed)
            return model, Trainer(model, t.learning_rate, t.weight_decay, t.grad_clip), 0
        ck.config.check_training_memory(batch, t.seq_length)
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
        return ck.model, trainer, self.resumed_meta.epoch

    def _restore_rng(self) -> None:
        """Continue the shuffling sequence of the saved run (unless --seed is
        given), so that a resumed run trains exactly like an uninterrupted one."""
        meta = self.resumed_meta
        if "seed" in self.args.given or meta.rng is None:
            return
        self.seed = meta.seed if meta.seed is not None else self.seed
        meta.rng.restore(self.rng)

    # -- checkpoints -------------------------------------------------------------
    def metadata(self, epoch: int, loss: float | None, **run: Any) -> RunMetadata:
        return RunMetadata(
            epoch=epoch,
            loss=loss,
            version=__version__,
            vocab=self.vocab,
            start=self.start,
            seed=self.seed,
            rng=RngState.of(self.rng),
            options=self.options,
            **run,
        )

    def save(self, path: str, meta: RunMetadata, model: Model | None = None, trainer: Trainer | None = None) -> None:
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        save_checkpoint(path, model or self.model, trainer or self.trainer, meta.to_dict())
        self.out.line(f"Saved binary checkpoint to {path} ({file_mb(path)} MB)")

    # -- the run -------------------------------------------------------------------
    def header(self) -> None:
        a, c = self.args, self.model.config
        t = a.training
        total, active = c.num_parameters(), c.active_parameters()
        config_line = (
            f"Config: hidden={c.hidden_size} layers={c.num_layers} embed={c.embed_size} heads={c.num_heads} "
            f"experts={c.num_experts} topk={c.top_k} lr={t.learning_rate} wd={t.weight_decay} epochs={t.epochs} "
            f"batch={t.batch_size} seq={t.seq_length} fast={str(c.fast_mode).lower()} "
            f"rwkv={str(c.use_rwkv).lower()} vocab={c.vocab_size}"
        )
        params_line = f"Total params: {total} | Active: {active} ({active / total * 100:.1f}%)"
        w, n = self.inputs.shape
        rows: dict[str, object] = {
            "text": f"{self.source} ({len(self.text):,} chars)",
            "tokens": f"{self.vocab.kind}, vocab {c.vocab_size}; {w} windows of {n}",
            "model": f"H {c.hidden_size}, E {c.embed_size}, {c.num_layers} layer(s), {c.num_heads} heads, "
            f"{c.num_experts} experts top-{c.top_k}, fast={c.fast_mode}, rwkv={c.use_rwkv}",
            "parameters": f"{total:,} total, {active:,} active per token",
            "training": f"epochs {self.start_epoch}->{t.epochs}, batch {t.batch_size}, lr {t.learning_rate}, "
            f"wd {t.weight_decay}, clip {t.grad_clip}",
            "seed": self.seed,
        }
        if a.rl.do_rl:
            r = a.rl
            rows["RL"] = f"GRPO on {r.task}, {r.episodes} episodes, G {r.group_size}, lr {r.learning_rate}"
        self.out.header("rnnpy — GRU + RWKV + MoE", rows, config_line, params_line)

    def train(self) -> int:
        self.header()
        self.out.line("\nTraining...\n")
        metrics_file = self.args.run.metrics_file
        with contextlib.ExitStack() as stack:
            metrics = stack.enter_context(open(metrics_file, "a", encoding="utf-8")) if metrics_file else None
            stop = StopFlag()
            with catch_sigint(stop):  # training, RL and their saves; the sample after them is a plain command
                status = self._train(metrics, stop)
            if status == 0:
                self._sample()
            return status

    def _train(self, metrics: TextIO | None, stop: StopFlag) -> int:
        a, out = self.args, self.out
        t, save_path = a.training, a.checkpoint.save_path

        def on_epoch(r: EpochResult) -> None:
            log = r.epoch % t.log_every == 0 or r.epoch == self.start_epoch + 1
            out.epoch(r, log)
            if metrics is not None:
                tps = r.tokens / r.seconds if r.seconds > 0 else None
                row = {"epoch": r.epoch, "loss": r.loss, "grad_norm": r.grad_norm, "tokens_per_s": tps}
                metrics.write(json.dumps({**row, "elapsed": round(r.elapsed, 6)}) + "\n")
                metrics.flush()
            if a.checkpoint.save_every > 0 and r.epoch % a.checkpoint.save_every == 0:
                path = epoch_path(save_path, r.epoch)
                self.save(path, self.metadata(r.epoch, r.loss))
                out.line(f"  [Checkpoint: {path}]")

        out.start_training(self.start_epoch, t.epochs)
        try:
            result = fit(
                self.trainer,
                self.inputs,
                self.targets,
                batch_size=t.batch_size,
                epochs=t.epochs,
                start_epoch=self.start_epoch,
                rng=self.rng,
                on_epoch=on_epoch,
                on_progress=out.progress,
                stop=stop,
                skip_non_finite=t.skip_non_finite,
            )
        except DivergenceError as e:
            raise DivergenceError(f"{e}. {self._divergence_advice()}") from None
        finally:
            out.stop_training()
        best = result.best_loss if result.best_loss is not None else self.resumed_meta.loss
        if result.interrupted:
            return self._save_interrupted(result.epoch, result.last_loss)
        best_text = f"{best:.6f}" if best is not None else "inf"
        out.line(f"\nDone in {result.elapsed:.1f}s | Best loss: {best_text}\n")
        epoch = max(t.epochs, self.start_epoch)
        done = self.metadata(epoch, best, completed=True, time=f"{result.elapsed:.1f}")
        rl = None
        if a.rl.do_rl:
            supervised = self.model.copy(), self.trainer.state()  # saved instead if Ctrl-C stops RL
            out.line("Reinforcement learning...\n")
            rl, interrupted = self.reinforce(stop)
            out.line("")
            if interrupted:
                return self._save_rl_interrupted(done, rl, *supervised)
        if a.checkpoint.save_on_complete:
            self.save(save_path, dataclasses.replace(done, rl=rl))
        return 0

    def _sample(self) -> None:
        g = self.args.generation
        if g.gen_length > 0:
            self.out.line("\nGenerating post-RL sample...\n" if self.args.rl.do_rl else "\nGenerating sample...\n")
            sample(self.model, self.vocab, g.prompt or self.start, g.gen_length, g.temperature, self.seed, self.out)

    def _divergence_advice(self) -> str:
        t, path = self.args.training, self.args.checkpoint.save_path
        kept = f"{path} is as it was" if os.path.exists(path) else f"nothing was saved to {path}"
        clip = "turn --gradClip on (e.g. 1.0)" if t.grad_clip == 0 else f"lower --gradClip (now {t.grad_clip})"
        skip = "" if t.skip_non_finite else ", or pass --skipNonFinite to skip such steps"
        return (
            f"No weights of the diverged run were saved ({kept}): lower --learningRate (now {t.learning_rate}) "
            f"or {clip}{skip}"
        )

    def _save_interrupted(self, epoch: int, loss: float | None) -> int:
        """Ctrl-C: the state after the last completed epoch goes to --savePath
        — unless this run completed none, when there is nothing new to save
        and an existing file there must not be replaced by an untrained model."""
        path, out = self.args.checkpoint.save_path, self.out
        if epoch == self.start_epoch:
            kept = f"{path} is as it was" if os.path.exists(path) else f"nothing was saved to {path}"
            out.line(f"\nInterrupted before epoch {epoch + 1} finished: nothing to save.")
            out.err.print(f"Interrupted: no epoch of this run completed, so {kept}", markup=False)
            return 130
        out.line(f"\nInterrupted after epoch {epoch}: saving it.")
        self.save(path, self.metadata(epoch, loss, interrupted=True))
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
        self.save(path, done, model, supervised)
        rl_path = rl_interrupted_path(path)
        self.save(rl_path, dataclasses.replace(done, rl=rl, completed=False, interrupted=True))
        self.out.err.print(
            f"Interrupted during RL: the supervised model is saved to {path}, the RL state reached "
            f"({rl.episodes} of {self.args.rl.episodes} episodes) to {rl_path}",
            markup=False,
        )
        return 130


def run(args: TrainArgs) -> int:
    if args.rl.do_rl and args.bpe.use_bpe:
        raise UsageError(
            "--doRL: reinforcement learning needs a character-level model; drop --useBPE (BPE models are not supported)"
        )
    out = Reporter(args.run.quiet)
    if args.bpe.train_bpe:
        bpe.train_only(args, out)
        return 0
    r = Run(args, out)
    r.prepare()
    return r.train()
