"""Learning-rate schedules, budgets, durations and the three batch sources
(rnnpy.schedule, rnnpy.batching): pure functions, in process."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnpy.batching import RandomWindows, ShuffledWindows, Streams, batch_source
from rnnpy.cli.options import parse_eval_every
from rnnpy.errors import TextTooShortError
from rnnpy.schedule import Budget, LRSchedule, format_duration, parse_duration
from rnnpy.training import EvalEvery


def test_constant_is_the_old_programs_rate_at_every_step():
    s = LRSchedule(0.003)
    assert s.is_constant and {s.at(step, p) for step in (0, 5, 10**6) for p in (0.0, 0.5, 1.0)} == {0.003}
    assert not LRSchedule(0.003, warmup_steps=2).is_constant


def test_cosine_and_linear_decay_from_the_rate_to_the_minimum():
    cos, lin = LRSchedule(1e-2, "cosine", 1e-3), LRSchedule(1e-2, "linear", 1e-3)
    assert cos.at(0, 0.0) == lin.at(0, 0.0) == 1e-2
    assert cos.at(0, 1.0) == pytest.approx(1e-3) and lin.at(0, 1.0) == pytest.approx(1e-3)
    assert cos.at(0, 0.5) == pytest.approx(5.5e-3) and lin.at(0, 0.25) == pytest.approx(1e-2 - 0.25 * 9e-3)
    assert cos.at(0, 0.25) == pytest.approx(1e-3 + 9e-3 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert cos.at(0, 2.0) == cos.at(0, 1.0)  # a budget overrun stays at the minimum


def test_warmup_rises_linearly_then_hands_over_to_the_decay():
    s = LRSchedule(1e-2, "cosine", 0.0, warmup_steps=4)
    assert [s.at(step, 0.0) for step in range(5)] == pytest.approx([2.5e-3, 5e-3, 7.5e-3, 1e-2, 1e-2])
    assert s.at(10, 0.5) == pytest.approx(5e-3)


def test_unknown_schedule_is_an_error():
    with pytest.raises(ValueError, match="cosine"):
        LRSchedule(1e-3, "exponential")


def test_budget_progress_is_the_limit_nearest_its_end():
    b = Budget(epochs=10, max_steps=1000, max_time=60.0)
    assert b.progress(epochs=1.0, steps=100, seconds=0.0) == pytest.approx(0.1)
    assert b.progress(epochs=1.0, steps=500, seconds=6.0) == pytest.approx(0.5)
    assert b.progress(epochs=1.0, steps=100, seconds=45.0) == pytest.approx(0.75)
    assert b.progress(epochs=20.0, steps=0, seconds=0.0) == 1.0
    assert Budget(epochs=0).progress(0.0, 0, 0.0) == 1.0
    assert b.reached(999, 59.0) is None and b.reached(1000, 0.0) == "max_steps" and b.reached(0, 60.0) == "max_time"
    assert Budget(epochs=5).reached(10**9, 1e9) is None  # no step or time limit


@pytest.mark.parametrize(
    "text,seconds",
    [("90s", 90), ("5m", 300), ("1h30m", 5400), ("1.5h", 5400), ("45", 45), ("2m30s", 150), (" 10S ", 10)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "5x", "1..5s", "-3s", "s5"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_durations_print_back_as_typed():
    assert [format_duration(s) for s in (90, 300, 5400, 3600, 2.5)] == ["90s", "5m", "1h30m", "1h", "2.5s"]


def test_eval_every_counts_steps_or_epochs():
    assert parse_eval_every("500") == EvalEvery(steps=500)
    assert parse_eval_every("2epochs") == parse_eval_every("2epoch") == parse_eval_every("2e") == EvalEvery(epochs=2)
    assert parse_eval_every("0") == EvalEvery()
    with pytest.raises(ValueError, match="epochs"):
        parse_eval_every("soon")


IDS = np.arange(101)  # 100 positions: token i is followed by i + 1


def test_shuffled_windows_are_the_old_programs_epochs():
    src = batch_source("shuffled", IDS, 10, 4)
    assert isinstance(src, ShuffledWindows) and src.steps_per_epoch == 3  # 10 windows: 4 + 4 + 2
    rng = np.random.default_rng(0)
    batches = list(src.epoch(rng))
    order = np.random.default_rng(0).permutation(10)
    assert [b.inputs.shape[0] for b in batches] == [4, 4, 2]
    assert np.array_equal(np.concatenate([b.inputs[:, 0] for b in batches]), order * 10)
    assert all(np.array_equal(b.targets, b.inputs + 1) for b in batches)
    # a resumed epoch regenerates the same order from the epoch's RNG state and skips what was done
    again = list(src.epoch(np.random.default_rng(0), start=2))
    assert len(again) == 1 and np.array_equal(again[0].inputs, batches[2].inputs)


def test_random_windows_start_anywhere_and_resume_exactly():
    src = batch_source("random", IDS, 10, 4)
    assert isinstance(src, RandomWindows) and src.steps_per_epoch == 3
    batches = list(src.epoch(np.random.default_rng(5)))
    starts = np.concatenate([b.inputs[:, 0] for b in batches])
    assert starts.min() >= 0 and starts.max() <= 90 and any(s % 10 for s in starts)  # any offset, not only windows
    assert all(np.array_equal(b.inputs, b.inputs[:, :1] + np.arange(10)) for b in batches)
    assert all(np.array_equal(b.targets, b.inputs + 1) for b in batches)
    resumed = list(src.epoch(np.random.default_rng(5), start=1))
    assert [r.inputs.tolist() for r in resumed] == [b.inputs.tolist() for b in batches[1:]]


def test_stateful_rows_read_their_own_contiguous_streams():
    src = batch_source("stateful", IDS, 10, 4)
    assert isinstance(src, Streams) and src.carries_state and src.stream_length == 25 and src.steps_per_epoch == 2
    first, second = src.epoch(np.random.default_rng(0))
    assert first.inputs[:, 0].tolist() == [0, 25, 50, 75]  # row b starts stream b
    assert np.array_equal(second.inputs[:, 0], first.inputs[:, -1] + 1)  # and continues it in the next batch
    assert np.array_equal(second.targets, second.inputs + 1)


def test_every_source_needs_one_window_and_says_which_options_to_change():
    for kind in ("shuffled", "random"):
        with pytest.raises(TextTooShortError, match="seqLength=10"):
            batch_source(kind, np.arange(10), 10, 4)
    with pytest.raises(TextTooShortError, match="--batchSize"):
        batch_source("stateful", IDS, 10, 20)  # 20 streams of 5 positions: no window of 10
