"""Group sampling, the log-probs and the GRPO update run in Rust with the GIL
released: while one of them runs in a thread, Python code in another thread
keeps running. Were the GIL held, the other thread could not take a single
step between the call's start and its end."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

import rnnpy

VOCAB, SEQS, LEN = 20, 1024, 48  # each call well over 50 ms on a fast, idle core


def steps_taken_meanwhile(call: Callable[[], object]) -> tuple[int, float]:
    """(time stamps the main thread took while `call` ran in a worker, the call's seconds)."""
    window: list[float] = []

    def work() -> None:
        window.append(time.perf_counter())
        call()
        window.append(time.perf_counter())

    stamps: list[float] = []
    worker = threading.Thread(target=work)
    worker.start()
    while worker.is_alive():
        stamps.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    start, end = window
    return sum(start < s < end for s in stamps), end - start


def model() -> rnnpy.Model:
    return rnnpy.Model(rnnpy.ModelConfig(vocab_size=VOCAB, hidden_size=64, embed_size=16, fast_mode=True), seed=0)


def sequences() -> np.ndarray:
    return np.random.default_rng(0).integers(0, VOCAB, size=(SEQS, LEN)).astype(np.uint32)


def batch(m: rnnpy.Model) -> rnnpy.GRPOBatch:
    seqs = sequences()
    mask = np.ones(seqs.shape, np.float32)
    mask[:, 0] = 0.0  # position 0 has no prediction
    adv = np.where(np.arange(SEQS) % 2 == 0, 1.0, -1.0).astype(np.float32)
    return rnnpy.GRPOBatch(seqs, mask, m.token_log_probs(seqs), adv)


CALLS: dict[str, Callable[[rnnpy.Model], Callable[[], object]]] = {
    "sample_groups": lambda m: lambda: m.sample_groups([[1, 2, 3, 4, 5]] * 512, 8, 40, [0], 1.0, 0),
    "token_log_probs": lambda m: lambda: m.token_log_probs(sequences()),
    "grpo_step": lambda m: (lambda b, t: lambda: t.grpo_step(b))(batch(m), rnnpy.Trainer(m, 1e-3)),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_rl_calls_release_the_gil(name: str) -> None:
    call = CALLS[name](model())
    meanwhile, seconds = steps_taken_meanwhile(call)
    # 1 ms sleeps over a call of ≥ 50 ms: dozens of stamps when released, at most one at an edge when held.
    assert seconds > 0.05, f"{name} took {seconds:.3f}s: too short to tell"
    assert meanwhile >= 5, f"{name}: the other thread took {meanwhile} steps in {seconds:.3f}s"


def test_the_probe_sees_a_held_gil() -> None:
    """A C loop that keeps the GIL (the builtin sum): the other thread stands still."""
    meanwhile, seconds = steps_taken_meanwhile(lambda: sum(range(10**7)))
    assert seconds > 0.05 and meanwhile <= 2
