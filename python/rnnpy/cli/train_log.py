"""What ``train`` prints and records while it runs: the header, the old
program's epoch lines, a line per validation, the metrics file, the
periodic and the best checkpoints, and why the run stopped."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, TextIO

from rnnpy.schedule import format_duration
from rnnpy.training import EpochResult, EvalResult, FitResult

if TYPE_CHECKING:
    from rnnpy.cli.train import Run


def epoch_path(path: str, epoch: int) -> str:
    """``model.bin`` -> ``model_epoch50.bin``; only the file's own extension
    is touched (``runs.bin/model`` -> ``runs.bin/model_epoch50``)."""
    return suffixed(path, f"_epoch{epoch}")


def best_path(path: str) -> str:
    """``model.bin`` -> ``model_best.bin``: where ``--saveBest`` keeps the best-validation model."""
    return suffixed(path, "_best")


def suffixed(path: str, suffix: str) -> str:
    root, ext = os.path.splitext(path)
    return f"{root}{suffix}{ext}"


def eval_line(e: EvalResult) -> str:
    s = e.score
    train = f"{e.train_loss:.6f}" if e.train_loss is not None else "-"
    mark = " | best" if e.improved else ""
    return (
        f"Step {e.step:6} | Epoch {e.epoch:7.2f} | Loss: {train} | Val: {s.loss:.6f} | "
        f"{s.bits_per_char:.4f} bits/char | Time: {e.elapsed:.1f}s{mark}"
    )


class RunLog:
    def __init__(self, run: Run) -> None:
        self.run = run
        self.metrics: TextIO | None = None
        self.start_epoch = run.position.epoch

    def header(self) -> None:
        r = self.run
        a, c = r.args, r.model.config
        t, v = a.training, a.validation
        total, active = c.num_parameters(), c.active_parameters()
        config_line = (
            f"Config: hidden={c.hidden_size} layers={c.num_layers} embed={c.embed_size} heads={c.num_heads} "
            f"experts={c.num_experts} topk={c.top_k} lr={t.learning_rate} wd={t.weight_decay} epochs={t.epochs} "
            f"batch={t.batch_size} seq={t.seq_length} fast={str(c.fast_mode).lower()} "
            f"rwkv={str(c.use_rwkv).lower()} vocab={c.vocab_size}"
        )
        params_line = f"Total params: {total} | Active: {active} ({active / total * 100:.1f}%)"
        rows: dict[str, object] = {
            "text": f"{r.source} ({len(r.text):,} chars)",
            "tokens": f"{r.vocab.kind}, vocab {c.vocab_size}; {t.batching}: {r.batches.describe()}",
            "model": f"H {c.hidden_size}, E {c.embed_size}, {c.num_layers} layer(s), {c.num_heads} heads, "
            f"{c.num_experts} experts top-{c.top_k}, fast={c.fast_mode}, rwkv={c.use_rwkv}",
            "parameters": f"{total:,} total, {active:,} active per token",
            "training": f"epochs {self.start_epoch}->{t.epochs}, batch {t.batch_size}, lr {t.learning_rate}, "
            f"wd {t.weight_decay}, clip {t.grad_clip}",
            "seed": r.seed,
        }
        if t.lr_schedule != "constant" or t.warmup_steps:
            rows["schedule"] = f"{t.lr_schedule} to {t.min_learning_rate}, warm-up {t.warmup_steps} steps"
        limits = [f"max time {format_duration(t.max_time)}"] * (t.max_time > 0)
        limits += [f"max steps {t.max_steps}"] * (t.max_steps > 0)
        if limits:
            rows["budget"] = ", ".join(limits)
        if r.texts.val is not None:
            rows["validation"] = (
                f"{r.texts.val_source} ({len(r.texts.val):,} chars), every {v.every}"
                + (f", patience {v.patience}" if v.patience else "")
                + (", best saved" if v.save_best else "")
            )
        if a.rl.do_rl:
            rl = a.rl
            rows["RL"] = f"GRPO on {rl.task}, {rl.episodes} episodes, G {rl.group_size}, lr {rl.learning_rate}"
        world = r.world.describe()  # a collective: every rank builds the header
        r.out.header("rnnpy — GRU + RWKV + MoE", rows, config_line, params_line)
        if r.parallel is not None:
            r.out.line(f"Distributed: {world}; global batch {t.batch_size}, {r.parallel.row_count} rows on rank 0")

    def bar_title(self) -> str:
        t = self.run.args.training
        return f"epoch {{task.fields[epoch]}}/{t.epochs}"

    def on_epoch(self, e: EpochResult) -> None:
        r, a = self.run, self.run.args
        log = e.epoch % a.training.log_every == 0 or e.epoch == self.start_epoch + 1
        r.out.epoch(e, log)
        if self.metrics is not None:
            tps = e.tokens / e.seconds if e.seconds > 0 else None
            row = {"epoch": e.epoch, "loss": e.loss, "grad_norm": e.grad_norm, "tokens_per_s": tps}
            row |= {"tokens": self.tokens(e.epoch), "lr": r.trainer.learning_rate}
            if e.skipped:  # --skipNonFinite
                row["skipped"] = e.skipped
            self.write({**row, "elapsed": round(e.elapsed, 6)})
        every = a.checkpoint.save_every
        if every > 0 and e.epoch % every == 0:
            path = epoch_path(a.checkpoint.save_path, e.epoch)
            r.save(path, r.metadata(r.position, e.loss))
            r.out.line(f"  [Checkpoint: {path}]")

    def on_eval(self, e: EvalResult) -> None:
        r = self.run
        r.out.evaluation(e, eval_line(e))
        if self.metrics is not None:
            s = e.score
            row = {"step": e.step, "epoch": round(e.epoch, 6), "train_loss": e.train_loss, "val_loss": s.loss}
            row["tokens"] = self.tokens(e.epoch)
            self.write({**row, "val_bits_per_char": s.bits_per_char, "elapsed": round(e.elapsed, 6)})
        if e.improved and r.args.validation.save_best:
            r.save(best_path(r.args.checkpoint.save_path), r.metadata(e.position, e.train_loss, e), quiet=True)

    def tokens(self, epochs: float) -> int:
        """Tokens trained on since epoch 0 after `epochs` (`plot`'s x axis)."""
        return round(epochs * self.run.batches.tokens_per_epoch)

    def write(self, row: dict[str, object]) -> None:
        assert self.metrics is not None
        self.metrics.write(json.dumps(row) + "\n")
        self.metrics.flush()

    def stopped(self, result: FitResult) -> None:
        """Why the run ended, when not after its epochs."""
        t, v = self.run.args.training, self.run.args.validation
        pos, steps = result.position, self.run.trainer.optimizer_step
        where = f"after step {steps} (epoch {pos.epochs_done(self.run.batches.steps_per_epoch):.2f})"
        reason = {
            "max_time": f"\nTime budget reached (--maxTime={format_duration(t.max_time)}): stopped {where}",
            "max_steps": f"\nStep budget reached (--maxSteps={t.max_steps}): stopped {where}",
            "patience": f"\nNo better validation in {v.patience} evaluations (--patience): stopped {where}",
        }.get(result.stopped)
        if reason:
            self.run.out.line(reason)

    def validation_summary(self, result: FitResult) -> None:
        e, pos = result.last_eval, result.position
        if e is None:
            return
        s = e.score
        self.run.out.line(
            f"Validation: {s.loss:.6f} nats/token | {s.bits_per_char:.4f} bits/char | perplexity "
            f"{s.perplexity:.3f} (step {e.step}); best {pos.best_val:.6f} at step {pos.best_step}\n"
        )
        if self.run.args.validation.save_best:
            self.run.out.line(f"Best-validation model: {best_path(self.run.args.checkpoint.save_path)}")
