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
import json
import os
from typing import Any, TextIO

import numpy as np

from rnnpy import __version__
from rnnpy.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from rnnpy.cli import bpe
from rnnpy.cli.console import Reporter
from rnnpy.cli.generate import resolve_seed, sample, start_text
from rnnpy.cli.options import Options, UsageError, run_command
from rnnpy.cli.vocab import BPEVocab, CharVocab, Vocab, load_tokenizer, read_training_text, vocab_for_checkpoint
from rnnpy.model import Model, ModelConfig
from rnnpy.rl.cli import config_from_args, run_phase
from rnnpy.rl.tasks import check_vocab, get_task
from rnnpy.trainer import Trainer
from rnnpy.vocab import CharVocab as TaskVocab
from rnnpy.training import EpochResult, StopFlag, TextTooShortError, catch_sigint, fit, make_windows

USAGE = "python -m rnnpy train [--name=value ...]"

# CLI option -> ModelConfig field: the checkpoint's value wins on resume.
ARCHITECTURE = {
    "hiddenSize": "hidden_size",
    "numLayers": "num_layers",
    "embedSize": "embed_size",
    "numHeads": "num_heads",
    "numExperts": "num_experts",
    "topK": "top_k",
    "fastMode": "fast_mode",
    "useRWKV": "use_rwkv",
}
_LONG_TEXT_OPTIONS = ("trainingText", "bpeTrainingText")


def epoch_path(path: str, epoch: int) -> str:
    """``model.bin`` -> ``model_epoch50.bin``; only the file's own extension
    is touched (``runs.bin/model`` -> ``runs.bin/model_epoch50``)."""
    root, ext = os.path.splitext(path)
    return f"{root}_epoch{epoch}{ext}"


def file_mb(path: str) -> str:
    return f"{os.path.getsize(path) / 1_048_576:.2f}"


class Run:
    """One training run: what is needed to save a checkpoint at any point."""

    def __init__(self, opts: Options, out: Reporter) -> None:
        self.opts = opts
        self.out = out
        self.resumed: Checkpoint | None = None
        self.seed = resolve_seed(opts)
        self.rng = np.random.Generator(np.random.PCG64(self.seed))

    # -- set-up ----------------------------------------------------------------
    def prepare(self) -> None:
        opts = self.opts
        if opts.loadCheckpoint:
            try:
                self.resumed = load_checkpoint(opts.loadCheckpoint)
            except CheckpointError as e:
                raise UsageError(str(e)) from None
        self.text, self.source = read_training_text(opts)
        self.vocab = self._vocabulary()
        self.start = self.text[:1] if self.resumed is None else start_text(self.resumed.metadata, self.text)
        try:
            self.inputs, self.targets = make_windows(self.vocab.encode(self.text), opts.seqLength)
        except TextTooShortError as e:
            raise UsageError(f"{self.source}: {e}") from None
        self.model, self.trainer, self.start_epoch = self._model()
        if opts.doRL:
            self._check_rl()
        parent = os.path.dirname(opts.savePath) or "."
        if not (os.path.isdir(parent) or not os.path.exists(parent)) or (
            os.path.isdir(parent) and not os.access(parent, os.W_OK)
        ):  # find out now, not after the whole training run
            raise UsageError(f"--savePath: cannot write into {parent}")

    def _vocabulary(self) -> Vocab:
        opts = self.opts
        if self.resumed is not None:
            vocab, _ = vocab_for_checkpoint(
                self.resumed.metadata, self.resumed.config.vocab_size, opts, opts.loadCheckpoint
            )
            return vocab
        if not opts.useBPE:
            return CharVocab.from_text(self.text)
        if opts.bpeLoadPath:
            tok = load_tokenizer(opts.bpeLoadPath)
            self.out.line(f"Loaded BPE from {opts.bpeLoadPath} (vocab={tok.vocab_size}, merges={len(tok.merges)})")
        else:  # as the old program: train one on the training text first
            tok = bpe.train_and_save(self.text, opts, self.out)
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
            check_vocab(TaskVocab(self.vocab.chars), get_task(self.opts.rlTask))
        except ValueError as e:
            raise UsageError(f"--rlTask={self.opts.rlTask}: {e}") from None

    def reinforce(self) -> dict[str, Any]:
        """GRPO on the trained model, continuing the supervised AdamW state;
        returns what the checkpoint's metadata records of the run."""
        opts = self.opts
        config = config_from_args(opts, self.seed)
        assert isinstance(self.vocab, CharVocab)  # _check_rl
        report = run_phase(
            self.model, self.trainer, self.vocab.chars, opts.rlTask, opts.rlEpisodes, config, self.out.line
        )
        return report.record(config).to_dict()

    def _model(self) -> tuple[Model, Trainer, int]:
        opts = self.opts
        ck = self.resumed
        if ck is None:
            try:
                cfg = ModelConfig(
                    vocab_size=self.vocab.size,
                    **{field: getattr(opts, name) for name, field in ARCHITECTURE.items()},
                )
            except ValueError as e:
                raise UsageError(f"invalid model: {e}") from None
            model = Model(cfg, seed=self.seed)
            return model, Trainer(model, opts.learningRate, opts.weightDecay, opts.gradClip), 0
        for name, field in ARCHITECTURE.items():
            if name in opts.given and getattr(opts, name) != getattr(ck.config, field):
                self.out.warn(
                    f"--{name}={getattr(opts, name)} ignored: {opts.loadCheckpoint} has "
                    f"{name}={getattr(ck.config, field)} (the checkpoint's architecture is used)"
                )
        self._restore_rng(ck.metadata)
        self.out.line(
            f"Loaded binary checkpoint from {opts.loadCheckpoint} "
            f"({ck.config.num_parameters()} params, {file_mb(opts.loadCheckpoint)} MB)"
        )
        trainer = ck.trainer(opts.learningRate, opts.weightDecay, opts.gradClip)
        if ck.optimizer_step > 0:
            self.out.line(f"Restored optimizer step: {ck.optimizer_step}")
        epoch = (ck.metadata or {}).get("epoch", 0)
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise UsageError(f"{opts.loadCheckpoint}: metadata epoch {epoch!r} is not an epoch number")
        return ck.model, trainer, epoch

    def _restore_rng(self, meta: dict[str, Any] | None) -> None:
        """Continue the shuffling sequence of the saved run (unless --seed is
        given), so that a resumed run trains exactly like an uninterrupted one."""
        ours = (meta or {}).get("rnnpy", {})
        if "seed" in self.opts.given or "rng" not in ours:
            return
        self.seed = int(ours.get("seed", self.seed))
        saved = ours["rng"]
        try:
            state = self.rng.bit_generator.state
            state["state"] = {"state": int(saved["state"]), "inc": int(saved["inc"])}
            state["has_uint32"], state["uinteger"] = int(saved["has_uint32"]), int(saved["uinteger"])
            self.rng.bit_generator.state = state
        except (KeyError, TypeError, ValueError):
            self.out.warn(f"{self.opts.loadCheckpoint}: unreadable shuffling state; reseeding with {self.seed}")

    # -- checkpoints -------------------------------------------------------------
    def metadata(self, epoch: int, loss: float | None, **extra: Any) -> dict[str, Any]:
        options = self.opts.as_dict()
        for name in _LONG_TEXT_OPTIONS:
            if len(options[name]) > 200:
                options[name] = f"({len(options[name])} chars)"
        bits = self.rng.bit_generator.state  # PCG64: 128-bit state, stored as strings
        rng = {k: str(v) for k, v in bits["state"].items()}
        rng.update(has_uint32=str(bits["has_uint32"]), uinteger=str(bits["uinteger"]))
        meta: dict[str, Any] = {
            "epoch": epoch,
            "rnnpy": {
                "version": __version__,
                "vocab": self.vocab.to_metadata(),
                "start": self.start,
                "seed": self.seed,
                "rng": rng,
                "options": options,
            },
        }
        if loss is not None:
            meta["loss"] = loss
        meta.update(extra)
        return meta

    def save(self, path: str, meta: dict[str, Any]) -> None:
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        save_checkpoint(path, self.model, self.trainer, meta)
        self.out.line(f"Saved binary checkpoint to {path} ({file_mb(path)} MB)")

    # -- the run -------------------------------------------------------------------
    def header(self) -> None:
        o, c = self.opts, self.model.config
        total, active = c.num_parameters(), c.active_parameters()
        config_line = (
            f"Config: hidden={c.hidden_size} layers={c.num_layers} embed={c.embed_size} heads={c.num_heads} "
            f"experts={c.num_experts} topk={c.top_k} lr={o.learningRate} wd={o.weightDecay} epochs={o.epochs} "
            f"batch={o.batchSize} seq={o.seqLength} fast={str(c.fast_mode).lower()} "
            f"rwkv={str(c.use_rwkv).lower()} vocab={c.vocab_size}"
        )
        params_line = f"Total params: {total} | Active: {active} ({active / total * 100:.1f}%)"
        w, t = self.inputs.shape
        rows = {
            "text": f"{self.source} ({len(self.text):,} chars)",
            "tokens": f"{self.vocab.kind}, vocab {c.vocab_size}; {w} windows of {t}",
            "model": f"H {c.hidden_size}, E {c.embed_size}, {c.num_layers} layer(s), {c.num_heads} heads, "
            f"{c.num_experts} experts top-{c.top_k}, fast={c.fast_mode}, rwkv={c.use_rwkv}",
            "parameters": f"{total:,} total, {active:,} active per token",
            "training": f"epochs {self.start_epoch}->{o.epochs}, batch {o.batchSize}, lr {o.learningRate}, "
            f"wd {o.weightDecay}, clip {o.gradClip}",
            "seed": self.seed,
        }
        if o.doRL:
            rows["RL"] = f"GRPO on {o.rlTask}, {o.rlEpisodes} episodes, G {o.rlGroupSize}, lr {o.rlLearningRate}"
        self.out.header("rnnpy — GRU + RWKV + MoE", rows, config_line, params_line)

    def train(self) -> int:
        opts, out = self.opts, self.out
        self.header()
        out.line("\nTraining...\n")
        with contextlib.ExitStack() as stack:
            metrics = stack.enter_context(open(opts.metricsFile, "a", encoding="utf-8")) if opts.metricsFile else None
            return self._train(metrics)

    def _train(self, metrics: TextIO | None) -> int:
        opts, out = self.opts, self.out

        def on_epoch(r: EpochResult) -> None:
            log = r.epoch % opts.logEvery == 0 or r.epoch == self.start_epoch + 1
            out.epoch(r, log)
            if metrics is not None:
                tps = r.tokens / r.seconds if r.seconds > 0 else None
                row = {"epoch": r.epoch, "loss": r.loss, "grad_norm": r.grad_norm, "tokens_per_s": tps}
                metrics.write(json.dumps({**row, "elapsed": round(r.elapsed, 6)}) + "\n")
                metrics.flush()
            if opts.saveEvery > 0 and r.epoch % opts.saveEvery == 0:
                path = epoch_path(opts.savePath, r.epoch)
                self.save(path, self.metadata(r.epoch, r.loss))
                out.line(f"  [Checkpoint: {path}]")

        stop = StopFlag()
        out.start_training(self.start_epoch, opts.epochs)
        try:
            with catch_sigint(stop):
                result = fit(
                    self.trainer,
                    self.inputs,
                    self.targets,
                    batch_size=opts.batchSize,
                    epochs=opts.epochs,
                    start_epoch=self.start_epoch,
                    rng=self.rng,
                    on_epoch=on_epoch,
                    on_progress=out.progress,
                    stop=stop,
                )
        finally:
            out.stop_training()
        previous = (self.resumed.metadata or {}).get("loss") if self.resumed else None
        best = result.best_loss if result.best_loss is not None else previous
        if result.interrupted:
            out.line(f"\nInterrupted after epoch {result.epoch}: saving it.")
            self.save(opts.savePath, self.metadata(result.epoch, result.last_loss, interrupted=True))
            out.err.print(f"Interrupted: checkpoint of epoch {result.epoch} saved to {opts.savePath}", markup=False)
            return 130
        best_text = f"{best:.6f}" if best is not None else "inf"
        out.line(f"\nDone in {result.elapsed:.1f}s | Best loss: {best_text}\n")
        extra: dict[str, Any] = {}
        if opts.doRL:
            out.line("Reinforcement learning...\n")
            extra["rl"] = self.reinforce()
            out.line("")
        if opts.saveOnComplete:
            epoch = max(opts.epochs, self.start_epoch)
            meta = self.metadata(epoch, best, completed=True, time=f"{result.elapsed:.1f}", **extra)
            self.save(opts.savePath, meta)
        if opts.genLength > 0:
            out.line("\nGenerating post-RL sample...\n" if opts.doRL else "\nGenerating sample...\n")
            sample(self.model, self.vocab, opts.prompt or self.start, opts.genLength, opts.temperature, self.seed, out)
        return 0


def run(opts: Options) -> int:
    if opts.doRL and opts.useBPE:
        raise UsageError(
            "--doRL: reinforcement learning needs a character-level model; drop --useBPE (BPE models are not supported)"
        )
    out = Reporter(opts.quiet)
    if opts.trainBPE:
        bpe.train_only(opts, out)
        return 0
    r = Run(opts, out)
    r.prepare()
    return r.train()


def main(argv: list[str]) -> int:
    return run_command("train", USAGE, argv, run)
