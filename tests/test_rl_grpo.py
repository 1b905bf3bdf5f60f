"""GRPO pieces through the Python API: advantages (zero-spread groups), the
clipped objective's gradient direction, the KL estimator, prompt feeding,
batch building, the CLI's corpus command."""

from __future__ import annotations

import numpy as np
import pytest

import rnnpy
from rnnpy import CharVocab
from rnnpy.rl.evaluate import complete
from rnnpy.rl.grpo import build_batch, group_advantages
from rnnpy.rl.tasks import TASK_ALPHABET, check_vocab, get_task, stop_ids

VOCAB = sorted(TASK_ALPHABET)


def small_model(seed: int = 0) -> rnnpy.Model:
    return rnnpy.Model(
        rnnpy.ModelConfig(vocab_size=len(VOCAB), hidden_size=16, embed_size=8, fast_mode=True), seed=seed
    )


@pytest.mark.parametrize(
    ("rewards", "informative"),
    [
        ([[1.0, 0.0, 0.5, 0.5]], [True]),
        ([[0.3, 0.3, 0.3, 0.3]], [False]),  # zero spread: no signal
        ([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]], [False, True, False]),
    ],
)
def test_group_advantages(rewards: list[list[float]], informative: list[bool]) -> None:
    r = np.array(rewards)
    adv, inf = group_advantages(r)
    assert inf.tolist() == informative
    for row, a, ok in zip(r, adv, inf):
        if not ok:
            assert np.all(a == 0)
            continue
        want = (row - row.mean()) / (row.std() + 1e-4)
        np.testing.assert_allclose(a, want, rtol=1e-6)
        assert abs(a.sum()) < 1e-5  # zero mean within a group
        assert np.all(np.sign(a) == np.sign(row - row.mean()))


def test_advantage_of_two_member_group() -> None:
    adv, _ = group_advantages(np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(adv, [[0.5 / (0.5 + 1e-4), -0.5 / (0.5 + 1e-4)]], rtol=1e-6)


def one_sequence_batch(model: rnnpy.Model, adv: float, shift: float = 0.0):
    vocab = CharVocab(VOCAB)
    seqs = np.array([vocab.encode("\nab:ab\n")], dtype=np.uint32)
    mask = np.zeros(seqs.shape, np.float32)
    mask[0, 4:] = 1.0
    lp = model.token_log_probs(seqs)
    old = (lp + shift).astype(np.float32)
    return seqs, mask, old, np.array([adv], np.float32), lp


@pytest.mark.parametrize("adv", [1.0, -1.0])
def test_update_moves_log_probs_with_the_advantage(adv: float) -> None:
    """A positive advantage raises the sampled tokens' log-probs, a negative one lowers them."""
    model = small_model(1)
    seqs, mask, old, a, lp0 = one_sequence_batch(model, adv)
    opt = rnnpy.Trainer(model, 1e-2, 0.0, 1.0)
    stats = opt.grpo_step(rnnpy.GRPOBatch(seqs, mask, old, a), 0.2, 0.0)
    assert stats.mean_ratio == pytest.approx(1.0, abs=1e-5) and stats.loss == pytest.approx(-adv, abs=1e-5)
    lp1 = model.token_log_probs(seqs)
    change = float(((lp1 - lp0) * mask).sum())
    assert change * adv > 0, f"advantage {adv}: completion log-prob changed by {change}"


def test_clipped_tokens_give_no_gradient() -> None:
    model = small_model(2)
    # π_old far below π_θ: ρ = e^1 > 1 + ε, and A > 0: every token is clipped.
    seqs, mask, old, a, _ = one_sequence_batch(model, 1.0, shift=-1.0)
    stats, grads = model.grpo_loss_and_grad(rnnpy.GRPOBatch(seqs, mask, old, a), 0.2, 0.0)
    assert stats.clip_fraction == 1.0 and stats.mean_ratio == pytest.approx(np.e, rel=1e-4)
    assert stats.loss == pytest.approx(-1.2, rel=1e-5)
    assert all(np.all(g == 0) for g in grads.values())
    # ... and with A < 0 none is (the pessimistic branch is the unclipped one).
    stats, grads = model.grpo_loss_and_grad(rnnpy.GRPOBatch(seqs, mask, old, -a), 0.2, 0.0)
    assert stats.clip_fraction == 0.0 and any(np.any(g != 0) for g in grads.values())


def test_kl_estimator() -> None:
    model, other = small_model(3), small_model(4)
    seqs, mask, old, a, lp = one_sequence_batch(model, 0.0)
    stats, _ = model.grpo_loss_and_grad(rnnpy.GRPOBatch(seqs, mask, old, a, lp), 0.2, 1.0)
    assert stats.kl == pytest.approx(0.0, abs=1e-7)  # π_ref = π_θ
    ref = other.token_log_probs(seqs)
    stats, _ = model.grpo_loss_and_grad(rnnpy.GRPOBatch(seqs, mask, old, a, ref), 0.2, 1.0)
    x = (ref - lp)[mask == 1]
    assert stats.kl > 0 and stats.kl == pytest.approx(float(np.mean(np.exp(x) - x - 1)), rel=1e-4)
    assert stats.loss == pytest.approx(stats.kl, rel=1e-4)  # A = 0: the loss is β·KL


def test_prompt_feeding_changes_the_completion_distribution() -> None:
    model = small_model(5)
    vocab = CharVocab(VOCAB)
    # Logits after prompt A vs prompt B differ ...
    la = model.logits(np.array([vocab.encode("\nabc:")]))[0, -1]
    lb = model.logits(np.array([vocab.encode("\nhij:")]))[0, -1]
    assert np.abs(la - lb).max() > 1e-3
    # ... and sampling starts from the state after the prompt: the first
    # token's reported log-prob is the log-softmax of those logits.
    for prompt, logits in (("abc:", la), ("hij:", lb)):
        (toks, lps), *_ = complete(model, vocab, [prompt], 3, 4, 1.0, seed=7)
        want = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
        assert lps[0] == pytest.approx(float(want[toks[0]]), abs=1e-5)


def test_sampling_is_seeded_and_stops_at_newline() -> None:
    model = small_model(6)
    vocab = CharVocab(VOCAB)
    a = complete(model, vocab, ["ab:", "cd:"], 4, 6, 1.0, seed=3)
    assert a == complete(model, vocab, ["ab:", "cd:"], 4, 6, 1.0, seed=3)
    assert a != complete(model, vocab, ["ab:", "cd:"], 4, 6, 1.0, seed=4)
    for toks, lps in a:
        assert 1 <= len(toks) <= 6 and len(lps) == len(toks)
        assert all(t not in stop_ids(vocab) for t in toks[:-1])


def test_build_batch_pads_and_masks() -> None:
    seqs, mask, old = build_batch([[1, 2], [3]], [([4, 5, 0], [-0.1, -0.2, -0.3]), ([6], [-0.4])], pad_id=0)
    assert seqs.tolist() == [[1, 2, 4, 5, 0], [3, 6, 0, 0, 0]]
    assert mask.tolist() == [[0, 0, 1, 1, 1], [0, 1, 0, 0, 0]]
    np.testing.assert_allclose(old, [[0, 0, -0.1, -0.2, -0.3], [0, -0.4, 0, 0, 0]], rtol=1e-6)


def test_bad_inputs_are_value_errors() -> None:
    model = small_model(7)
    seqs, mask, old, a, _ = one_sequence_batch(model, 1.0)
    with pytest.raises(ValueError, match="no completion tokens"):
        model.grpo_loss_and_grad(rnnpy.GRPOBatch(seqs, np.zeros_like(mask), old, a), 0.2, 0.0)
    with pytest.raises(ValueError, match="advantages"):
        model.grpo_loss_and_grad(rnnpy.GRPOBatch(seqs, mask, old, np.ones(2, np.float32)), 0.2, 0.0)
    with pytest.raises(ValueError, match="clip"):
        model.grpo_loss_and_grad(rnnpy.GRPOBatch(seqs, mask, old, a), 1.5, 0.0)
    with pytest.raises(ValueError, match="lacks characters"):
        check_vocab(CharVocab(list("abc:\n")), get_task("reverse"))


def test_tasks_command_prints_one_example_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    from rnnpy.cli import main

    assert main(["tasks", "--task=reverse", "--n=50", "--seed=1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 50 and all(
        get_task("reverse").reward(l.split(">")[0] + ">", l.split(">")[1]) == 1.0 for l in lines
    )
    assert main(["tasks", "--task=nope"]) == 2
    assert "unknown RL task" in capsys.readouterr().err
