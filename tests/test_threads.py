"""Several Python threads may share one Model, Trainer or RecurrentState
(issue 16): their calls take turns and give correct results — no
PyO3 "Already borrowed" panic, no RuntimeError."""

from __future__ import annotations

import threading

import numpy as np

import rnnpy


def setup():
    cfg = rnnpy.ModelConfig(vocab_size=12, embed_size=8, hidden_size=16, num_heads=2, num_experts=2)
    model = rnnpy.Model(cfg, seed=1)
    x = np.random.default_rng(0).integers(0, 12, size=(4, 16))
    return model, rnnpy.Trainer(model), x


def in_threads(*jobs, repeat: int = 30) -> list[BaseException]:
    errors: list[BaseException] = []

    def loop(job):
        for _ in range(repeat):
            try:
                job()
            except BaseException as e:  # a PanicException is a BaseException
                errors.append(e)
                return

    threads = [threading.Thread(target=loop, args=(j,)) for j in jobs]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return errors


def test_training_and_using_one_model_from_several_threads():
    model, trainer, x = setup()
    y = (x + 1) % 12
    shapes = []
    state = model.new_state(4)
    errors = in_threads(
        lambda: trainer.step(x, y),
        lambda: trainer.steps(np.stack([x, x]), np.stack([y, y])),
        lambda: shapes.append(model.logits(x).shape),
        lambda: (model.parameters(), model.loss(x, y), trainer.state(), trainer.optimizer_step),
        lambda: model.step(state, x[:, 0]),
        lambda: model.generate([1, 2], 5, temperature=0.0),
    )
    assert errors == []
    assert trainer.optimizer_step == 30 * 3  # every step taken, none lost or doubled
    assert set(shapes) == {(4, 16, 12)} and model.is_finite()


def test_two_threads_sharing_a_trainer_take_turns_exactly():
    model, trainer, x = setup()
    y = (x + 1) % 12
    reference, ref_trainer, _ = setup()
    assert in_threads(lambda: trainer.step(x, y), lambda: trainer.step(x, y), repeat=20) == []
    for _ in range(40):  # the same batch each time: the order of the threads does not matter
        ref_trainer.step(x, y)
    got, want = model.parameters(), reference.parameters()
    assert all(np.array_equal(got[k], want[k]) for k in got)


def test_a_state_shared_by_threads_and_parameters_set_meanwhile():
    model, trainer, x = setup()
    state = model.new_state(4)
    norm = np.ones(16, np.float32)
    errors = in_threads(
        lambda: model.step(state, x[:, 0]),
        lambda: model.loss(x, x, state),
        lambda: model.set_parameters({"output_norm": norm}),
        lambda: state.tensors(),
    )
    assert errors == [] and state.batch == 4
