"""Rendering of training with rich: the old program's lines plus a progress bar.

Training itself (train.py) never prints; it calls a progress callback with a
MergeStep. ``TrainingReport`` is such a callback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from rnnpy.tokenizer.ids import FIRST_MERGE_ID
from rnnpy.tokenizer.train import MergeStep

if TYPE_CHECKING:
    from rnnpy.tokenizer import BPETokenizer


_ESCAPES = {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}
_ESCAPES.update({c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if c not in _ESCAPES})


def show(token: str) -> str:
    """A token string on one line, as the old program printed it (\\n escaped);
    other control characters are escaped too, so they cannot garble the terminal."""
    return token.translate(_ESCAPES)


def print_header(console: Console, text_chars: int, vocab_size: int, min_frequency: int) -> None:
    rule = "=" * 70
    merges = max(0, vocab_size - FIRST_MERGE_ID)
    console.print(f"\n{rule}\n   BPE TOKENIZER TRAINING\n{rule}", markup=False, highlight=False)
    console.print(
        f"Text: {text_chars} chars | Target: {vocab_size} | Base: {FIRST_MERGE_ID} | "
        f"Max merges: {merges} | Min freq: {min_frequency}\n",
        markup=False,
        highlight=False,
    )


class TrainingReport:
    """Progress callback: a merges/s bar while training, and the old program's
    "Merge    1: ..." line for the first 10 merges and every 100th."""

    def __init__(self, console: Console, bar: bool = True) -> None:
        self.console = console
        self._progress = (
            Progress(
                TextColumn("merging"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>8.0f} merges/s"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            if bar
            else None
        )
        self._task: TaskID | None = None

    def __enter__(self) -> TrainingReport:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, step: MergeStep) -> None:
        if step.number <= 10 or step.number % 100 == 0:
            self.console.print(
                f'Merge {step.number:4}: "{show(step.string)}" (count: {step.count}) | '
                f"Vocab: {step.vocab_size} | {step.elapsed:.1f}s",
                markup=False,
                highlight=False,
            )
        if self._progress is not None:
            if self._task is None:
                self._task = self._progress.add_task("merging", total=step.total, rate=0.0)
            rate = step.number / step.elapsed if step.elapsed > 0 else 0.0
            self._progress.update(self._task, completed=step.number, rate=rate)


def print_summary(console: Console, tokenizer: BPETokenizer, seconds: float) -> None:
    """The old program's closing lines: time, sizes, and tokens by length."""
    merges = tokenizer.vocab_size - FIRST_MERGE_ID
    console.print(
        f"\nDone in {seconds:.1f}s | Vocab: {tokenizer.vocab_size} | Merges: {merges}\n",
        markup=False,
        highlight=False,
    )
    console.print(f"=== BPE Stats === Vocab: {tokenizer.vocab_size} | Merges: {merges}", markup=False, highlight=False)
    by_length: dict[int, list[str]] = {}
    for i in range(4, tokenizer.vocab_size):  # special tokens left out, as before
        s = tokenizer.token(i)
        by_length.setdefault(len(s), []).append(s)
    for length in sorted(by_length, reverse=True)[:5]:
        tokens = by_length[length]
        shown = ", ".join(f'"{show(s)}"' for s in tokens[:5])
        more = f" ...({len(tokens)} total)" if len(tokens) > 5 else ""
        console.print(f"  Len {length}: {shown}{more}", markup=False, highlight=False)
