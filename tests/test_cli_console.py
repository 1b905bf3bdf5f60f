"""The live progress bar a terminal gets shows the latest validation loss."""

from __future__ import annotations

import io

from rich.console import Console

from rnnpy.cli.console import Reporter
from rnnpy.evaluation import Score
from rnnpy.progress import EvalResult, Position


def test_the_progress_bar_shows_the_last_validation_loss():
    r = Reporter()
    screen = io.StringIO()
    r.out = Console(file=screen, force_terminal=True, width=200, highlight=False)
    r.live = True
    r.start_training("train")
    e = EvalResult(step=10, epoch=0.5, score=Score(1.2345678, 100, 100), improved=True, train_loss=1.5,
                   elapsed=1.0, final=False, position=Position())  # fmt: skip
    r.evaluation(e, "Step     10 | ...")
    assert r._progress is not None
    r._progress.refresh()
    r.stop_training()
    assert "val 1.2346" in screen.getvalue() and "val -" in screen.getvalue()  # the placeholder, then the score
