"""GRPO pieces through the Python API: advantages (sample std, zero-spread
groups kept), the clipped objective's gradient direction, the KL estimator,
log-probs at the sampling temperature, no reference without a KL term,
prompt feeding, batch building, the CLI's corpus command."""

from __future__ import annotations

import numpy as np
import pytest

import rnnpy
from rnnpy import CharVocab
from rnnpy.rl.evaluate import complete
from rnnpy.rl.grpo import GRPO, GRPOConfig, build_batch, group_advantages
from rnnpy.rl.tasks import TASK_ALPHABET, Task, get_task
from rnnpy.rl.tokens import check_vocab, stop_ids

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
        want = (row - row.mean()) / (row.std(ddof=1) + 1e-4)  # the sample std, as TRL
        np.testing.assert_allclose(a, want, rtol=1e-6)
        assert abs(a.sum()) < 1e-5  # zero mean within a group
        assert np.all(np.sign(a) == np.sign(row - row.mean()))


def test_advantage_of_two_member_group() -> None:
    adv, _ = group_advantages(np.array([[1.0, 0.0]]))
    std = np.sqrt(0.5)  # sample std of {1, 0}; the population std would be 0.5
    np.testing.assert_allclose(adv, [[0.5 / (std + 1e-4), -0.5 / (std + 1e-4)]], rtol=1e-6)


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


# ---------------------------------------------------------------- the GRPO loop's choices


def constant_task(reward: float) -> Task:
    """Every answer earns `reward`: every group has zero spread."""
    copy = get_task("copy")
    return Task("const", copy.make, copy.expected, lambda p, a: reward, copy.alphabet, 6, copy.make_general, "x")


class Recorded:
    """Stands in for GRPOBatch and keeps what the loop passed."""

    seen: list[tuple[np.ndarray, ...]] = []

    def __new__(cls, seqs, mask, old, adv, ref=None):  # type: ignore[no-untyped-def]
        cls.seen.append((seqs, mask, old, adv, ref))
        return rnnpy.GRPOBatch(seqs, mask, old, adv, ref)


def test_zero_spread_groups_are_kept_with_zero_advantage(monkeypatch: pytest.MonkeyPatch) -> None:
    """TRL keeps them: their tokens count in the loss's denominator (the old
    loop dropped them, and skipped the update when no group was left)."""
    import rnnpy.rl.grpo as grpo

    Recorded.seen = []
    monkeypatch.setattr(grpo, "GRPOBatch", Recorded)
    model = small_model(8)
    run = GRPO(model, CharVocab(VOCAB), constant_task(0.5), GRPOConfig(group_size=4, prompts_per_episode=3, max_len=5))
    stats = run.step()
    assert stats.zero_spread == 3 and stats.groups == 3
    assert run.trainer.optimizer_step == 1  # updated all the same (weight decay, moments)
    (seqs, mask, old, adv, ref), *_ = Recorded.seen
    assert seqs.shape[0] == 12 and np.all(adv == 0) and ref is None
    completion_tokens = int(mask.sum())
    assert completion_tokens == round(stats.mean_length * 12)


def test_zero_advantage_tokens_count_in_the_denominator() -> None:
    """Two sequences, one with A = 1 and one with A = 0: the loss is the
    first's term over both sequences' tokens."""
    model = small_model(9)
    vocab = CharVocab(VOCAB)
    seqs = np.array([vocab.encode("\nab:ab\n"), vocab.encode("\ncd:cd\n")], dtype=np.uint32)
    mask = np.zeros(seqs.shape, np.float32)
    mask[:, 4:] = 1.0
    lp = model.token_log_probs(seqs)
    stats, grads = model.grpo_loss_and_grad(rnnpy.GRPOBatch(seqs, mask, lp, np.array([1.0, 0.0], np.float32)))
    assert stats.tokens == 6 and stats.loss == pytest.approx(-3 / 6, abs=1e-5)
    alone, grads_alone = model.grpo_loss_and_grad(rnnpy.GRPOBatch(seqs[:1], mask[:1], lp[:1], np.ones(1, np.float32)))
    assert alone.loss == pytest.approx(-1.0, abs=1e-5)
    for name, g in grads.items():
        np.testing.assert_allclose(g, 0.5 * grads_alone[name], rtol=1e-4, atol=1e-7)


def test_no_reference_log_probs_without_a_kl_term(monkeypatch: pytest.MonkeyPatch) -> None:
    model = small_model(10)
    run = GRPO(model, CharVocab(VOCAB), get_task("copy"), GRPOConfig(group_size=3, prompts_per_episode=2, max_len=4))
    calls: list[float] = []
    real = run.reference.token_log_probs

    def counted(seqs: object, temperature: float = 1.0) -> np.ndarray:
        calls.append(temperature)
        return real(seqs, temperature)

    monkeypatch.setattr(run.reference, "token_log_probs", counted)
    assert run.step().kl is None and calls == []  # β = 0: nothing to compare with
    assert run.step(measure_kl=True).kl == pytest.approx(0.0, abs=0.5) and calls == [1.0]  # asked for: measured
    run.config.kl_beta = 0.1
    assert run.step().kl is not None and len(calls) == 2


@pytest.mark.parametrize("tau", [0.5, 1.6])
def test_log_probs_are_those_of_the_sampling_temperature(tau: float) -> None:
    """The sampler's log-probs are log softmax(logits / τ), recomputed
    directly; `token_log_probs` at τ gives the same, so the ratio the update
    starts from is 1 (the importance ratio of the distribution sampled)."""
    model = small_model(11)
    vocab = CharVocab(VOCAB)
    prompt = vocab.encode("\nabc:")
    (toks, lps), *_ = model.sample_groups([prompt], 3, 5, stop_ids(vocab), tau, seed=2)
    seq = np.array([prompt + toks], dtype=np.uint32)
    logits = model.logits(seq)[0].astype(np.float64) / tau
    direct = logits - logits.max(axis=1, keepdims=True)
    direct = direct - np.log(np.exp(direct).sum(axis=1, keepdims=True))
    for k, tok in enumerate(toks):
        assert lps[k] == pytest.approx(direct[len(prompt) + k - 1, tok], abs=1e-4)
    at_tau = model.token_log_probs(seq, tau)[0, len(prompt) :]
    np.testing.assert_allclose(at_tau, lps, atol=1e-4)
    untempered = model.token_log_probs(seq)[0, len(prompt) :]
    assert np.abs(untempered - np.array(lps)).max() > 1e-2

    run = GRPO(model, vocab, get_task("copy"), GRPOConfig(group_size=4, prompts_per_episode=4, temperature=tau))
    stats = run.step()
    assert stats.mean_ratio == pytest.approx(1.0, abs=1e-4) and stats.clip_fraction == 0.0


def test_rl_on_a_bpe_model() -> None:
    """Prompts are encoded with the tokenizer and completions decoded before
    the verifier; any token holding a newline ends an answer."""
    text = "\n".join(["ab:ab", "cd:cd", "abc:abc", "3+4=7"] * 30) + "\n"
    vocab = rnnpy.BPEVocab(rnnpy.BPETokenizer.train(text, vocab_size=300))
    stops = stop_ids(vocab)
    assert vocab.encode("\n")[0] in stops
    assert all("\n" in vocab.token(i) or "|" in vocab.token(i) for i in stops)
    assert any(len(vocab.token(i)) > 1 for i in stops), "a merged token ending in a newline stops too"
    check_vocab(vocab, get_task("arithmetic"))  # bytes spell every character
    model = rnnpy.Model(rnnpy.ModelConfig(vocab_size=len(vocab), hidden_size=8, embed_size=4, fast_mode=True))
    run = GRPO(model, vocab, get_task("copy"), GRPOConfig(group_size=3, prompts_per_episode=2, max_len=6))
    stats = run.step()
    assert 0.0 <= stats.mean_reward <= 1.0 and run.trainer.optimizer_step == 1
