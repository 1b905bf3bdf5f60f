"""``python -m rnnpy plot METRICS.jsonl [MORE.jsonl ...] -o curves.png``:
training curves of ``--metricsFile`` runs, overlaid (``rnnpy.plot``)."""

from __future__ import annotations

from rnnpy.cli.commands import PlotArgs
from rnnpy.cli.console import Reporter
from rnnpy.plot import plot


def run(args: PlotArgs) -> int:
    path = plot(args.paths, args.files.output)
    Reporter().line(f"Saved {len(args.paths)} run(s) to {path} ({path.stat().st_size / 1024:.0f} KB)")
    return 0
