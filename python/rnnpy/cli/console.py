"""Rendering with rich. The old program's lines are kept word for word so
logs stay greppable; a terminal also gets a header panel and a live progress
bar (the budget's progress, loss, validation loss, tokens/s, ETA). Nothing here computes anything."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from rnnpy.training import EpochResult, EvalResult, Tick

RULE = "-" * 70


class Reporter:
    def __init__(self, quiet: bool = False, silent: bool = False) -> None:
        """`quiet`: results only; `silent`: nothing (a data-parallel rank but rank 0)."""
        self.quiet = quiet or silent
        self.silent = silent
        self.out = Console(highlight=False, soft_wrap=True, quiet=self.quiet)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True, quiet=silent)
        self.live = self.out.is_terminal and not quiet
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    # -- plain lines ---------------------------------------------------------
    def line(self, text: str = "") -> None:
        """One line on stdout, exactly as given (no markup), flushed."""
        (self._progress.console if self._progress else self.out).print(text, markup=False)
        self.out.file.flush()

    def warn(self, text: str) -> None:
        self.err.print(f"warning: {text}", markup=False)

    # -- header ----------------------------------------------------------------
    def header(self, title: str, rows: dict[str, Any], config_line: str, params_line: str) -> None:
        if self.quiet:
            return
        if self.live:
            table = Table.grid(padding=(0, 2))
            table.add_column(style="bold cyan")
            table.add_column()
            for k, v in rows.items():
                table.add_row(k, str(v))
            self.out.print(Panel(table, title=title, expand=False))
        else:
            self.line(f"\n{'=' * 70}\n   {title}\n{'=' * 70}\n")
        self.line(config_line)
        self.line(params_line)
        if not self.live:
            self.line(f"Seed: {rows['seed']}")

    # -- training progress -----------------------------------------------------
    def start_training(self, title: str) -> None:
        """A live bar on a terminal: the share of the run's budget used (epochs, steps or time)."""
        if not self.live:
            return
        self._progress = Progress(
            TextColumn(title),
            BarColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("val {task.fields[val]}"),
            TextColumn("{task.fields[tps]} tok/s"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.out,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("train", total=1.0, epoch="-", loss="-", val="-", tps="-")

    def tick(self, t: Tick) -> None:
        if self._progress is not None and self._task is not None:
            tps = f"{t.tokens / t.elapsed:,.0f}" if t.elapsed > 0 else "-"  # over the run: steadier
            self._progress.update(
                self._task, completed=t.progress, epoch=f"{t.epoch:.2f}", loss=f"{t.loss:.4f}", tps=tps
            )

    def epoch(self, r: EpochResult, log: bool) -> None:
        if log:
            self.line(epoch_line(r))

    def evaluation(self, e: EvalResult, line: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, val=f"{e.score.loss:.4f}")
        self.line(line)

    def stop_training(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # -- generation --------------------------------------------------------------
    def stream(self, text: str) -> None:
        """Generated text as it comes: written raw, flushed per token."""
        sys.stdout.write(text)
        sys.stdout.flush()


def epoch_line(r: EpochResult) -> str:
    skipped = f" | Skipped: {r.skipped} non-finite steps" if r.skipped else ""
    return f"Epoch {r.epoch:4} | Loss: {r.loss:.6f} | \u2207: {r.grad_norm:.4f} | Time: {r.elapsed:.1f}s{skipped}"
