"""Training curves from ``--metricsFile`` files: one run per file, overlaid.

Four panels: the loss (and the validation loss, where rows carry
``val_loss``) against tokens trained, the same against wall time, the
learning rate and the gradient norm. Epoch rows carry ``loss``; rows with
``val_loss`` are evaluations. Files from before rnnpy recorded ``tokens``
are drawn against epochs instead. matplotlib is an optional extra
(``pip install 'rnnpy[plot]'``); the figure is drawn off-screen (Agg) and
written atomically.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnpy.errors import MetricsError, require
from rnnpy.tokenizer.io import write_atomic

QUANTITIES = ("loss", "val_loss", "lr", "grad_norm")
AXES = ("tokens", "epoch", "elapsed")


@dataclass
class Series:
    """(x, y) points of one quantity against one axis."""

    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)

    def add(self, x: Any, y: Any) -> None:
        if _number(x) and _number(y):
            self.x.append(float(x))
            self.y.append(float(y))


@dataclass
class Run:
    """One metrics file: each quantity against each axis its rows carry."""

    label: str
    has_tokens: bool  # every row records `tokens` (files from before it did are drawn against epochs)
    curves: dict[tuple[str, str], Series] = field(default_factory=dict)

    def series(self, quantity: str, axis: str) -> Series:
        return self.curves.setdefault((quantity, axis), Series())


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def read_metrics(path: str | os.PathLike[str], label: str | None = None) -> Run:
    """A metrics file: one JSON object per line (blank lines are skipped)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MetricsError(f"'{p}' is not a UTF-8 metrics file") from None
    except OSError as e:
        raise MetricsError(f"cannot read the metrics file '{p}': {e.strerror}") from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, or nested deeper / numbers longer than Python reads
            raise MetricsError(f"'{p}' line {n} is not JSON (a metrics file holds one JSON object per line)") from None
        if not isinstance(row, dict):
            raise MetricsError(f"'{p}' line {n} is not a JSON object")
        rows.append(row)
    if not any(_number(r.get("loss")) or _number(r.get("val_loss")) for r in rows):
        raise MetricsError(f"'{p}' has no loss to plot (train --metricsFile=FILE writes one)")
    run = Run(label or p.stem, all(_number(r.get("tokens")) for r in rows))
    for r in rows:
        for axis in AXES:
            for q in QUANTITIES:
                run.series(q, axis).add(r.get(axis), r.get(q))
    return run


def plot_runs(runs: Sequence[Run], output: str | os.PathLike[str], title: str | None = None) -> Path:
    """Draws `runs` overlaid and writes the PNG to `output`."""
    require("matplotlib", "plot", "plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    (loss, loss_t), (lr, norm) = fig.subplots(2, 2)
    axis = "tokens" if all(r.has_tokens for r in runs) else "epoch"
    for i, run in enumerate(runs):
        color = f"C{i % 10}"
        for ax, x in ((loss, axis), (loss_t, "elapsed")):
            train, val = run.series("loss", x), run.series("val_loss", x)
            ax.plot(train.x, train.y, color=color, lw=1.2, label=run.label)
            if val.x:
                ax.plot(val.x, val.y, color=color, lw=1.2, ls="--", marker=".", label=f"{run.label} (validation)")
        for ax, q in ((lr, "lr"), (norm, "grad_norm")):
            s = run.series(q, axis)
            ax.plot(s.x, s.y, color=color, lw=1.0, label=run.label)
    x_label = "tokens trained" if axis == "tokens" else "epoch"
    _label(loss, "loss (nats/token)", x_label, "training loss" + (" and validation" if _has_val(runs) else ""))
    _label(loss_t, "loss (nats/token)", "wall time (s)", "against wall time")
    _label(lr, "learning rate", x_label, "learning rate")
    _label(norm, "gradient norm (before clipping)", x_label, "gradient norm")
    norm.set_yscale("log")
    if not any(r.series("lr", axis).x for r in runs):
        lr.text(0.5, 0.5, "no learning rate recorded", ha="center", va="center", transform=lr.transAxes)
    loss.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_atomic(output, buf.getvalue())
    return Path(output)


def _has_val(runs: Sequence[Run]) -> bool:
    return any(r.series("val_loss", "epoch").x or r.series("val_loss", "tokens").x for r in runs)


def _label(ax: Any, y: str, x: str, title: str) -> None:
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title, fontsize="medium")
    ax.grid(True, alpha=0.3)


def plot(paths: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], title: str | None = None) -> Path:
    """Reads each metrics file (one run each, labelled by its file name) and plots them overlaid."""
    stems = [Path(p).stem for p in paths]
    labels = [str(p) if stems.count(s) > 1 else s for p, s in zip(paths, stems)]
    return plot_runs([read_metrics(p, label) for p, label in zip(paths, labels)], output, title)
