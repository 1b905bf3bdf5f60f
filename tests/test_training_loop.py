"""rnnpy.training.train: stateful batching, budgets, schedules, evaluations,
patience and exact resumption from a checkpoint's record (in process)."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

import rnnpy
import rnnpy.loop
import rnnpy.training
from rnnpy.batching import batch_source
from rnnpy.evaluation import Score, score
from rnnpy.metadata import RngState, RunMetadata
from rnnpy.schedule import Budget, LRSchedule
from rnnpy.training import EvalEvery, EvalResult, Plan, Position, state_from_values, state_values, train

CFG = rnnpy.ModelConfig(vocab_size=13, hidden_size=16, embed_size=8, num_heads=2, num_experts=2, fast_mode=True)
IDS = np.random.default_rng(7).integers(0, 13, size=401)
VAL = np.random.default_rng(8).integers(0, 13, size=120)


def fresh(seed: int = 0, lr: float = 3e-3) -> rnnpy.Trainer:
    return rnnpy.Trainer(rnnpy.Model(CFG, seed=seed), learning_rate=lr)


def same_weights(a: rnnpy.Model, b: rnnpy.Model) -> bool:
    pa, pb = a.parameters(), b.parameters()
    return all(np.array_equal(pa[k], pb[k]) for k in pa)


def test_stateful_batching_carries_the_state_across_batches_and_resets_it_each_epoch():
    trainer = fresh()
    src = batch_source("stateful", IDS, 10, 4)  # 4 streams of 100 positions: 10 batches an epoch
    train(trainer, src, Plan(Budget(epochs=2)), rng=np.random.default_rng(0))

    by_hand = fresh()
    for _ in range(2):
        state = by_hand.model.new_state(4)
        for b in src.epoch(np.random.default_rng(0)):
            by_hand.step(b.inputs, b.targets, state=state)
    assert same_weights(trainer.model, by_hand.model)

    forgetful = fresh()  # the same batches, each from zero state: another model
    for _ in range(2):
        for b in src.epoch(np.random.default_rng(0)):
            forgetful.step(b.inputs, b.targets)
    assert not same_weights(trainer.model, forgetful.model)


def test_the_schedule_sets_each_steps_rate():
    trainer = fresh(lr=1e-2)
    seen = []
    real_step = trainer.step

    def step(*args, **kwargs):
        seen.append(trainer.learning_rate)
        return real_step(*args, **kwargs)

    trainer.step = step  # type: ignore[method-assign]
    schedule = LRSchedule(1e-2, "linear", 0.0, warmup_steps=2)
    src = batch_source("stateful", IDS, 10, 4)
    train(trainer, src, Plan(Budget(epochs=1), schedule), rng=np.random.default_rng(0))
    assert seen == pytest.approx([schedule.at(k, k / 10) for k in range(10)])
    assert seen[0] == pytest.approx(5e-3) and seen[1] == pytest.approx(1e-2 * 0.9)


@pytest.mark.parametrize("batching", ["shuffled", "random", "stateful"])
def test_a_run_resumed_mid_epoch_from_its_checkpoint_record_trains_like_one_run(batching):
    """The record a checkpoint holds at a mid-epoch evaluation (position, RNG
    at the epoch's start, carried stream state, AdamW) continues exactly,
    schedule and warm-up included."""
    plan = Plan(Budget(epochs=3), LRSchedule(1e-2, "cosine", 1e-3, warmup_steps=7), EvalEvery(steps=4))
    src = batch_source(batching, IDS, 10, 4)  # 10 batches an epoch: evaluations at steps 4, 8, 12 (mid-epoch)
    trainer = fresh()
    saved = {}

    def on_eval(e: EvalResult) -> None:
        if e.step == 12:
            pos = e.position
            meta = RunMetadata(
                epoch=pos.epoch,
                rng=RngState.of_bits(pos.rng_state),
                position=copy.copy(pos),
                stream=state_values(pos.stream) if pos.stream is not None else None,
            )
            saved.update(meta=RunMetadata.from_dict(meta.to_dict()), params=trainer.model.parameters())
            saved["adam"] = trainer.state()

    evaluate = lambda m: score(m, VAL)
    train(trainer, src, plan, rng=np.random.default_rng(0), evaluate=evaluate, on_eval=on_eval)

    meta: RunMetadata = saved["meta"]
    assert meta.position is not None and meta.position.batch == 2 and meta.epoch == 1
    resumed = fresh(seed=99)
    resumed.model.set_parameters(saved["params"])
    resumed.set_state(*saved["adam"])
    rng = np.random.default_rng(12345)
    assert meta.rng is not None
    meta.rng.restore(rng)
    pos = meta.position
    pos.epoch = meta.epoch
    if meta.stream is not None:
        pos.stream = state_from_values(resumed.model, meta.stream)
    assert (pos.stream is not None) == (batching == "stateful")
    train(resumed, src, plan, rng=rng, evaluate=evaluate, at=pos)
    assert resumed.optimizer_step == trainer.optimizer_step == 30
    assert same_weights(trainer.model, resumed.model)


def test_max_steps_stops_mid_epoch_then_evaluates_once_more():
    trainer = fresh()
    src = batch_source("shuffled", IDS, 10, 4)  # 40 windows: 10 batches an epoch
    evals: list[EvalResult] = []
    res = train(
        trainer,
        src,
        Plan(Budget(epochs=100, max_steps=25), eval_every=EvalEvery(epochs=1)),
        rng=np.random.default_rng(0),
        evaluate=lambda m: score(m, VAL),
        on_eval=evals.append,
    )
    assert res.stopped == "max_steps" and not res.interrupted
    assert trainer.optimizer_step == 25 and res.position.epoch == 2 and res.position.batch == 5
    assert [e.step for e in evals] == [10, 20, 25] and evals[-1].final and res.last_eval is evals[-1]
    assert res.last_loss is not None  # the partial epoch's loss counts


def test_max_time_stops_on_the_clock_and_the_schedule_follows_it(monkeypatch):
    clock = itertools.count(0.0, 0.25)  # every reading of the clock is a quarter second later
    monkeypatch.setattr(rnnpy.loop.time, "perf_counter", lambda: next(clock))
    trainer = fresh(lr=1e-2)
    src = batch_source("stateful", IDS, 10, 4)
    plan = Plan(Budget(epochs=1000, max_time=20.0), LRSchedule(1e-2, "linear", 0.0))
    res = train(trainer, src, plan, rng=np.random.default_rng(0), at=Position(seconds=5.0))
    assert res.stopped == "max_time" and res.position.seconds >= 20.0
    assert 0 < trainer.optimizer_step < 60  # 15 s left when the run (re)started: at most 60 readings
    assert trainer.learning_rate < 0.1 * 1e-2  # decayed with the time used


def test_patience_stops_after_that_many_evaluations_without_a_new_best():
    losses = iter([3.0, 2.0, 2.5, 2.1, 2.2, 1.0])
    evals: list[EvalResult] = []
    res = train(
        fresh(),
        batch_source("shuffled", IDS, 10, 4),
        Plan(Budget(epochs=100), eval_every=EvalEvery(steps=3), patience=2),
        rng=np.random.default_rng(0),
        evaluate=lambda m: Score(next(losses), 10, 10),
        on_eval=evals.append,
    )
    assert res.stopped == "patience" and [e.step for e in evals] == [3, 6, 9, 12]
    assert [e.improved for e in evals] == [True, True, False, False]
    assert res.position.best_val == 2.0 and res.position.best_step == 6 and res.position.stale == 2


def test_an_interrupted_stateful_epoch_rolls_back_with_its_state(monkeypatch):
    trainer = fresh()
    src = batch_source("stateful", IDS, 10, 4)
    stop = rnnpy.training.StopFlag()
    after_epoch = {}

    def on_epoch(r):
        after_epoch["params"] = trainer.model.parameters()

    def on_tick(t):
        if t.epoch > 1.5:
            stop.set()

    res = train(
        trainer,
        src,
        Plan(Budget(epochs=5)),
        rng=np.random.default_rng(0),
        on_epoch=on_epoch,
        on_tick=on_tick,
        stop=stop,
    )
    assert res.interrupted and res.position.epoch == 1 and res.position.batch == 0
    assert trainer.optimizer_step == 10
    now = trainer.model.parameters()
    assert all(np.array_equal(now[k], after_epoch["params"][k]) for k in now)
