"""The GRPO loop: sample groups, reward them in Python, update in Rust.

Per episode (one batch of `prompts_per_episode` prompts of the `rl` split):

1. sample `G` completions per prompt from the policy at the sampling
   temperature τ, the prompt fed first (`Model.sample_groups`: Rust, GIL
   released), keeping each token's log-prob under that distribution;
2. decode and reward each completion with the task's verifier;
3. advantage `A = (r − mean) / (std + 1e-4)` within each group, std the
   sample standard deviation; a group whose rewards are all equal has A = 0
   (counted as zero-spread) and stays in the batch, as in TRL: its tokens
   count in the loss's denominator and, with β > 0, in the KL term;
4. `inner_steps` times: the clipped GRPO loss (+ β·KL to the policy at the
   start of RL; the reference log-probs are computed only when β > 0 or the
   KL is to be reported), its gradient, global-norm clip and AdamW
   (`Trainer.grpo_step`: Rust, the trainer's own AdamW state).

`run_rl` wraps this with the greedy evaluations before and after
(`rnnpy.rl.evaluate`). docs/rl.md gives each choice and its measurement.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from rnnpy.errors import InputError, VocabularyError
from rnnpy.interrupt import StopFlag
from rnnpy.metadata import EvalScore, RLRecord
from rnnpy.model import GRPOBatch, GRPOStats, Model
from rnnpy.rl.evaluate import PROMPT_PREFIX, EvalResult, Evaluation, Evaluator, complete
from rnnpy.rl.splits import RL, draw_example
from rnnpy.rl.tasks import Task, answer_text, get_task
from rnnpy.rl.tokens import check_vocab, stop_ids
from rnnpy.trainer import Trainer
from rnnpy.vocab import BPEVocab, CharVocab, Vocab

ADV_EPS = 1e-4


@dataclass
class GRPOConfig:
    """The settings of one RL run. The Rust core checks the ones it uses
    (clip, β, learning rate, sampling); `check` the rest."""

    group_size: int = 8  # G, completions per prompt (--rlGroupSize)
    prompts_per_episode: int = 8  # prompts per batch (--rlPrompts)
    clip: float = 0.2  # ε (--rlClip)
    kl_beta: float = 0.0  # β (--rlKL)
    inner_steps: int = 1  # μ (--rlInnerSteps)
    learning_rate: float = 1e-4  # (--rlLearningRate)
    weight_decay: float = 0.001  # the old program's RL AdamW
    grad_clip: float = 1.0
    temperature: float = 1.0  # τ: sampling temperature, and the log-probs' (--rlTemperature)
    max_len: int = 20  # most tokens per completion, the stop token included (the old program's 20)
    log_every: int = 10
    seed: int = 0
    eval_prompts: int = 200
    #: Flip the advantage's sign: a deliberately wrong update, for the test that guards against it.
    negate_advantages: bool = False
    #: Measure the KL to the start policy on every episode even when β = 0
    #: (one more forward pass each); otherwise only on the episodes reported.
    track_kl: bool = False

    def check(self) -> None:
        """The rules only the Python loop relies on."""
        if self.group_size < 2:
            raise InputError(
                f"rlGroupSize must be at least 2 (advantages compare within a group), got {self.group_size}"
            )
        for name in ("inner_steps", "log_every", "eval_prompts"):
            if getattr(self, name) < 1:
                raise InputError(f"GRPO {name} must be at least 1, got {getattr(self, name)}")


@dataclass
class EpisodeStats:
    episode: int  # 1-based
    mean_reward: float
    running_reward: float  # mean of mean_reward over episodes so far
    exact: float  # share of sampled completions with reward 1
    zero_spread: int  # groups whose members all had the same reward (A = 0: no signal)
    groups: int
    mean_length: float  # completion tokens, stop token included
    kl: float | None  # k3 estimate of KL(π_θ ‖ π_ref) on the batch, before the update (None: not measured)
    clip_fraction: float
    mean_ratio: float
    loss: float
    grad_norm: float
    example: tuple[str, str, float]  # (prompt, answer, reward)
    elapsed: float

    def line(self) -> str:
        """The old program's log line, plus what GRPO needs watched."""
        kl = "-" if self.kl is None else f"{self.kl:.4f}"
        return (
            f"Ep {self.episode:4} | R: {self.mean_reward:.3f} | Avg: {self.running_reward:.3f} | "
            f"Exact: {self.exact:5.1%} | Zero-spread: {self.zero_spread}/{self.groups} | "
            f"Len: {self.mean_length:.1f} | KL: {kl} | {self.elapsed:.1f}s"
        )

    def metrics(self) -> dict[str, object]:
        """One `--metricsFile` row."""
        return {
            "phase": "rl",
            "episode": self.episode,
            "reward": self.mean_reward,
            "running_reward": self.running_reward,
            "exact": self.exact,
            "zero_spread": self.zero_spread / self.groups,
            "kl": self.kl,
            "clip_fraction": self.clip_fraction,
            "mean_ratio": self.mean_ratio,
            "loss": self.loss,
            "grad_norm": self.grad_norm,
            "mean_length": self.mean_length,
            "elapsed": round(self.elapsed, 6),
        }

    def example_line(self) -> str:
        p, a, r = self.example
        return f"  {p!r} -> {a!r} (r={r:.2f})"


@dataclass
class RLReport:
    task: str
    before: Evaluation | None  # None: Ctrl-C came during it
    after: Evaluation | None  # None when interrupted
    episodes: list[EpisodeStats] = field(default_factory=list)
    seconds: float = 0.0  # the episodes' wall time (evaluations excluded)
    interrupted: bool = False  # stopped by Ctrl-C: `episodes` holds those completed

    @property
    def episodes_per_second(self) -> float:
        return len(self.episodes) / self.seconds if self.seconds > 0 else 0.0

    def record(self, config: GRPOConfig) -> RLRecord:
        """What a checkpoint's metadata records about this run."""

        def score(r: EvalResult) -> EvalScore:
            return EvalScore(r.exact, r.mean_reward)

        b, a = self.before, self.after
        general = None if b is None or a is None else (score(b.general), score(a.general))
        return RLRecord(
            task=self.task,
            episodes=len(self.episodes),
            group_size=config.group_size,
            prompts_per_episode=config.prompts_per_episode,
            clip=config.clip,
            kl=config.kl_beta,
            inner_steps=config.inner_steps,
            learning_rate=config.learning_rate,
            seed=config.seed,
            before=None if self.before is None else score(self.before.held_out),
            after=None if self.after is None else score(self.after.held_out),
            temperature=config.temperature,
            general=general,
            interrupted=self.interrupted,
        )


def group_advantages(rewards: npt.ArrayLike) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """`rewards [P, G]` -> `(advantages [P, G], informative [P])`.

    `A = (r − mean) / (std + 1e-4)` per group, with the sample standard
    deviation (N − 1 in the denominator, as TRL's `torch.std`). A group whose
    rewards are all equal has A = 0 everywhere and is marked uninformative;
    it is still trained on (its tokens count in the loss's mean).
    """
    r = np.asarray(rewards, dtype=np.float64)
    mean = r.mean(axis=1, keepdims=True)
    std = r.std(axis=1, ddof=1, keepdims=True)
    informative = (r.max(axis=1) - r.min(axis=1)) > 1e-12
    adv = np.where(informative[:, None], (r - mean) / (std + ADV_EPS), 0.0)
    return adv.astype(np.float32), informative


def build_batch(
    prompt_ids: Sequence[list[int]], completions: Sequence[tuple[list[int], list[float]]], pad_id: int
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Sequences `[N, T]` (prompt + completion, right-padded with `pad_id`),
    the completion mask and the sampling log-probs at completion positions."""
    lengths = [len(p) + len(c) for p, (c, _) in zip(prompt_ids, completions)]
    n, t = len(lengths), max(lengths)
    seqs = np.full((n, t), pad_id, dtype=np.uint32)
    mask = np.zeros((n, t), dtype=np.float32)
    old = np.zeros((n, t), dtype=np.float32)
    for i, (p, (c, lp)) in enumerate(zip(prompt_ids, completions)):
        seqs[i, : len(p)] = p
        seqs[i, len(p) : len(p) + len(c)] = c
        mask[i, len(p) : len(p) + len(c)] = 1.0
        old[i, len(p) : len(p) + len(c)] = lp
    return seqs, mask, old


class GRPO:
    """One RL run's state: the policy, the frozen reference, the trainer."""

    def __init__(
        self, model: Model, vocab: Vocab, task: Task, config: GRPOConfig, trainer: Trainer | None = None
    ) -> None:
        config.check()
        check_vocab(vocab, task)
        if len(vocab) != model.config.vocab_size:
            raise VocabularyError(f"the vocabulary has {len(vocab)} tokens, the model {model.config.vocab_size}")
        if trainer is None:  # a fresh AdamW for RL
            trainer = Trainer(model, config.learning_rate, config.weight_decay, config.grad_clip)
        elif trainer.model is not model:
            raise ValueError("the trainer belongs to a different model")
        self.model, self.vocab, self.task, self.config, self.trainer = model, vocab, task, config, trainer
        self.reference = model.copy()
        self.stop_ids = stop_ids(vocab)
        self.rng = random.Random(config.seed)
        self.episode = 0
        self.reward_sum = 0.0
        self.seconds = 0.0

    def step(self, measure_kl: bool = False) -> EpisodeStats:
        """One episode; `measure_kl` asks for the KL to the start policy even when β = 0."""
        start = time.perf_counter()
        cfg, task, vocab = self.config, self.task, self.vocab
        self.episode += 1
        prompts = [draw_example(task, RL, self.rng)[0] for _ in range(cfg.prompts_per_episode)]
        seed = (cfg.seed * 1_000_003 + self.episode) % 2**63
        outs = complete(self.model, vocab, prompts, cfg.group_size, cfg.max_len, cfg.temperature, seed)
        g = cfg.group_size
        answers = [answer_text(vocab.decode(c.tokens)) for c in outs]
        rewards = np.array([task.reward(prompts[i // g], a) for i, a in enumerate(answers)]).reshape(-1, g)
        adv, informative = group_advantages(rewards)
        if cfg.negate_advantages:
            adv = -adv
        mean_reward = float(rewards.mean())
        self.reward_sum += mean_reward
        best = int(np.argmax(rewards.reshape(-1)))
        prompt_ids = [vocab.encode(PROMPT_PREFIX + prompts[i // g]) for i in range(len(outs))]
        seqs, mask, old = build_batch(prompt_ids, outs, self.stop_ids[0])
        with_kl = cfg.kl_beta > 0 or measure_kl or cfg.track_kl
        ref = self.reference.token_log_probs(seqs, cfg.temperature) if with_kl else None
        batch = GRPOBatch(seqs, mask, old, adv.reshape(-1), ref)
        stats: GRPOStats | None = None
        with self.trainer.using(cfg.learning_rate, cfg.weight_decay, cfg.grad_clip):
            for k in range(cfg.inner_steps):
                s = self.trainer.grpo_step(batch, cfg.clip, cfg.kl_beta, cfg.temperature)
                stats = s if k == 0 else stats
        assert stats is not None  # inner_steps >= 1
        self.seconds += time.perf_counter() - start
        return EpisodeStats(
            episode=self.episode,
            mean_reward=mean_reward,
            running_reward=self.reward_sum / self.episode,
            exact=float((rewards >= 1.0).mean()),
            zero_spread=int((~informative).sum()),
            groups=len(prompts),
            mean_length=float(np.mean([len(c.tokens) for c in outs])),
            kl=stats.kl if with_kl else None,
            clip_fraction=stats.clip_fraction,
            mean_ratio=stats.mean_ratio,
            loss=stats.loss,
            grad_norm=stats.grad_norm,
            example=(prompts[best // g], answers[best], float(rewards.reshape(-1)[best])),
            elapsed=self.seconds,
        )


def run_rl(
    model: Model,
    trainer_or_lr: Trainer | float,
    vocab: Sequence[str] | Vocab,
    task: Task | str,
    episodes: int,
    config: GRPOConfig | None = None,
    on_episode: Callable[[EpisodeStats], None] | None = None,
    on_eval: Callable[[str, Evaluation], None] | None = None,
    on_every_episode: Callable[[EpisodeStats], None] | None = None,
    stop: StopFlag | None = None,
) -> RLReport:
    """GRPO on `task` for `episodes` batches, with the greedy evaluations
    (held-out and beyond the trained range) before and after. Updates `model`
    in place.

    `trainer_or_lr`: a learning rate (a fresh AdamW for RL, as TRL), or a
    `Trainer` whose AdamW moments and step count RL continues (at
    `config.learning_rate`, weight decay and clip; the trainer's own come
    back after each update). `on_episode` is called every `config.log_every`
    episodes and on the first (those episodes measure the KL), `on_every_episode`
    after each; `on_eval` with ("before" | "after", evaluation). `stop`
    (``rnnpy.interrupt``) ends the run between episodes, or within one when
    the core stops at Ctrl-C: the report is then `interrupted`, with the
    episodes completed and no evaluation after.
    """
    config = GRPOConfig() if config is None else config
    trainer = None
    if isinstance(trainer_or_lr, Trainer):
        trainer = trainer_or_lr
    else:
        config = dataclasses.replace(config, learning_rate=float(trainer_or_lr))
    vocab = vocab if isinstance(vocab, (CharVocab, BPEVocab)) else CharVocab(vocab)
    task = get_task(task) if isinstance(task, str) else task
    if episodes < 0:
        raise InputError(f"rlEpisodes must be non-negative, got {episodes}")
    run = GRPO(model, vocab, task, config, trainer)
    evaluator = Evaluator(task, config.eval_prompts, config.max_len)
    report = RLReport(task.name, None, None)
    try:
        report.before = evaluator(model, vocab)
        if on_eval:
            on_eval("before", report.before)
        for _ in range(episodes):
            if stop is not None and stop.is_set:
                break
            reported = run.episode == 0 or (run.episode + 1) % config.log_every == 0
            s = run.step(measure_kl=reported and on_episode is not None)
            report.episodes.append(s)
            if on_every_episode:
                on_every_episode(s)
            if on_episode and reported:
                on_episode(s)
    except KeyboardInterrupt:  # the core stopped at the first Ctrl-C: a clean stop, unlike a second one
        if stop is None or not stop.is_set or stop.aborted:
            raise
    report.interrupted = stop is not None and stop.is_set
    if not report.interrupted:
        report.after = evaluator(model, vocab)
        if on_eval:
            on_eval("after", report.after)
    report.seconds = run.seconds
    return report
