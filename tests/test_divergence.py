"""Divergence is caught, not saved (issue 15): a non-finite loss or gradient
norm is never applied, stops training with one line (or is skipped with
--skipNonFinite), and no non-finite number reaches a file."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rnnpy
from cli_run import SMALL, assert_clean_error, run
from rnnpy.training import fit, make_windows

DIVERGING = ["--learningRate=1e4", "--gradClip=0", "--epochs=60", "--seed=1"]


def tiny():
    cfg = rnnpy.ModelConfig(vocab_size=11, hidden_size=8, embed_size=8, num_heads=2, num_experts=2)
    model = rnnpy.Model(cfg, seed=0)
    x = np.random.default_rng(0).integers(0, 11, size=(2, 6))
    return model, rnnpy.Trainer(model), x


def test_a_diverging_run_stops_with_one_line_and_keeps_the_existing_checkpoint(tmp_path):
    assert run(tmp_path, "train", *SMALL, "--epochs=2", "--savePath=d.bin", "--genLength=0").returncode == 0
    good = (tmp_path / "d.bin").read_bytes()
    p = run(tmp_path, "train", *SMALL, *DIVERGING, "--savePath=d.bin")
    err = assert_clean_error(p, "diverged", "--learningRate", "--gradClip", "d.bin is as it was")
    assert "step" in err and "Generated" not in p.stdout  # no sample of garbage either
    assert (tmp_path / "d.bin").read_bytes() == good
    assert sorted(f.name for f in tmp_path.iterdir()) == ["d.bin"]


def test_periodic_checkpoints_of_a_diverging_run_are_all_finite(tmp_path):
    p = run(tmp_path, "train", *SMALL, *DIVERGING, "--saveEvery=1", "--savePath=m.bin", "--skipNonFinite")
    assert_clean_error(p, "diverged")
    saved = list(tmp_path.glob("*.bin"))
    assert saved and not (tmp_path / "m.bin").exists()  # the epochs before it diverged; never the final one
    for f in saved:
        ck = rnnpy.load_checkpoint(f)  # refuses non-finite weights
        assert math.isfinite(ck.metadata["loss"])


def test_skip_non_finite_is_an_option_and_still_stops_when_nothing_is_left(tmp_path):
    p = run(tmp_path, "train", *SMALL, *DIVERGING, "--savePath=d.bin", "--skipNonFinite")
    assert_clean_error(p, "diverged")
    assert not (tmp_path / "d.bin").exists()


def test_the_core_never_applies_a_non_finite_step():
    model, trainer, x = tiny()
    broken = model.parameters()["output_proj"].copy()
    broken[0, 0] = np.nan
    model.set_parameters({"output_proj": broken})
    before = model.parameters()
    loss, norm = trainer.step(x, (x + 1) % 11)
    assert math.isnan(loss) and math.isnan(norm)
    assert trainer.optimizer_step == 0
    after = model.parameters()
    assert all(np.array_equal(before[k], after[k], equal_nan=True) for k in before)
    losses, _ = trainer.steps(np.stack([x, x, x]), np.stack([x, x, x]))
    assert len(losses) == 1  # stopped at the first non-finite step
    losses, _ = trainer.steps(np.stack([x, x, x]), np.stack([x, x, x]), skip_non_finite=True)
    assert len(losses) == 3 and trainer.optimizer_step == 0
    assert not model.is_finite()


class SkipsSomeSteps:
    """A trainer whose steps `bad` (0-based, counted over the run) come out
    non-finite and are not applied, as the core does with such steps."""

    def __init__(self, trainer: rnnpy.Trainer, bad: set[int]) -> None:
        self.inner, self.model, self.bad, self.count = trainer, trainer.model, bad, 0

    def steps(self, x, y, skip_non_finite=False):
        losses, norms = [], []
        for i in range(len(x)):
            self.count += 1
            if self.count - 1 in self.bad:
                losses.append(np.nan)
                norms.append(np.inf)
                if not skip_non_finite:
                    break
                continue
            loss, norm = self.inner.steps(x[i : i + 1], y[i : i + 1])
            losses.append(float(loss[0]))
            norms.append(float(norm[0]))
        return np.array(losses, np.float32), np.array(norms, np.float32)

    @property
    def optimizer_step(self):
        return self.inner.optimizer_step

    def state(self):
        return self.inner.state()

    def set_state(self, *a):
        self.inner.set_state(*a)


def test_fit_stops_at_a_non_finite_step_or_skips_and_counts_it():
    model, trainer, _ = tiny()
    data = np.random.default_rng(1).integers(0, 11, size=7 * 6 + 1)
    x, y = make_windows(data, 6)
    with pytest.raises(rnnpy.DivergenceError, match=r"at epoch 1, step 3 .*no epoch of this run had finished"):
        fit(SkipsSomeSteps(trainer, {2}), x, y, batch_size=2, epochs=3, rng=np.random.default_rng(0))
    seen = []
    model, trainer, _ = tiny()
    t = SkipsSomeSteps(trainer, {2, 5})
    res = fit(t, x, y, batch_size=2, epochs=3, rng=np.random.default_rng(0), on_epoch=seen.append, skip_non_finite=True)
    assert [r.skipped for r in seen] == [1, 1, 0] and not res.interrupted
    assert trainer.optimizer_step == 3 * 4 - 2 and all(math.isfinite(r.loss) for r in seen)
    with pytest.raises(rnnpy.DivergenceError, match="every one of its 4 steps"):
        fit(SkipsSomeSteps(trainer, set(range(100))), x, y, batch_size=2, epochs=1, rng=np.random.default_rng(0),
            skip_non_finite=True)  # fmt: skip


def test_non_finite_weights_are_neither_saved_nor_loaded_unless_asked(tmp_path):
    model, trainer, _ = tiny()
    p = tmp_path / "m.bin"
    rnnpy.save_checkpoint(p, model, trainer, metadata={"epoch": 1})
    good = p.read_bytes()
    w = model.parameters()["layers.0.cell.wz"].copy()
    w[2, 3] = np.inf
    model.set_parameters({"layers.0.cell.wz": w})
    with pytest.raises(rnnpy.CheckpointError, match=r"layers\.0\.cell\.wz\[") as e:
        rnnpy.save_checkpoint(p, model, trainer)
    assert "allow_non_finite" in str(e.value)
    assert p.read_bytes() == good
    rnnpy.save_checkpoint(tmp_path / "inspect.bin", model, trainer, allow_non_finite=True)
    with pytest.raises(rnnpy.CheckpointError, match="non-finite"):
        rnnpy.load_checkpoint(tmp_path / "inspect.bin")
    assert not rnnpy.load_checkpoint(tmp_path / "inspect.bin", allow_non_finite=True).model.is_finite()


def test_a_non_finite_grpo_step_is_not_applied():
    """RL steps (Trainer.grpo_step) keep the weights and AdamW's step as they were, like supervised ones."""
    model, trainer, x = tiny()
    seqs = x[:1]
    mask = np.ones(seqs.shape, np.float32)
    mask[:, 0] = 0.0  # the first token is the prompt
    old = model.token_log_probs(seqs)
    broken = model.parameters()["output_proj"].copy()
    broken[0, 0] = np.inf
    model.set_parameters({"output_proj": broken})
    before = model.parameters()
    stats = trainer.grpo_step(rnnpy.GRPOBatch(seqs, mask, old, np.ones(1, np.float32)), 0.2, 0.0)
    assert not math.isfinite(stats.grad_norm)
    assert trainer.optimizer_step == 0
    after = model.parameters()
    assert all(np.array_equal(before[k], after[k], equal_nan=True) for k in before)
