"""The GRPO loop: sample groups, reward them in Python, update in Rust.

Per episode (one batch of `prompts_per_episode` prompts):

1. sample `G` completions per prompt from the policy, the prompt fed first
   (`Model.sample_groups`: Rust, GIL released);
2. reward each completion with the task's verifier;
3. advantage `A = (r − mean) / (std + 1e-4)` within each group; groups whose
   rewards are all equal carry no signal and are dropped (and counted);
4. `inner_steps` times: the clipped GRPO loss (+ β·KL to the policy at the
   start of RL), its gradient, global-norm clip and AdamW
   (`Trainer.grpo_step`: Rust, the trainer's own AdamW state).

`run_rl` wraps this with a held-out greedy evaluation before and after.
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
from rnnpy.rl.evaluate import PROMPT_PREFIX, EvalResult, complete, evaluate, held_out_prompts
from rnnpy.rl.tasks import Task, answer_text, check_vocab, get_task, stop_ids
from rnnpy.trainer import Trainer
from rnnpy.vocab import CharVocab

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
    temperature: float = 1.0  # sampling temperature (log-probs are always at 1)
    max_len: int = 20  # most tokens per completion, the stop token included (the old program's 20)
    log_every: int = 10
    seed: int = 0
    eval_prompts: int = 200
    #: Flip the advantage's sign: a deliberately wrong update, for the test that guards against it.
    negate_advantages: bool = False

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
    zero_spread: int  # groups dropped: every member had the same reward
    groups: int
    mean_length: float  # completion tokens, stop token included
    kl: float  # k3 estimate of KL(π_θ ‖ π_ref) on the batch, before the update
    clip_fraction: float
    mean_ratio: float
    loss: float
    grad_norm: float
    example: tuple[str, str, float]  # (prompt, answer, reward)
    elapsed: float

    def line(self) -> str:
        """The old program's log line, plus what GRPO needs watched."""
        return (
            f"Ep {self.episode:4} | R: {self.mean_reward:.3f} | Avg: {self.running_reward:.3f} | "
            f"Exact: {self.exact:5.1%} | Zero-spread: {self.zero_spread}/{self.groups} | "
            f"Len: {self.mean_length:.1f} | KL: {self.kl:.4f} | {self.elapsed:.1f}s"
        )

    def example_line(self) -> str:
        p, a, r = self.example
        return f"  {p!r} -> {a!r} (r={r:.2f})"


@dataclass
class RLReport:
    task: str
    before: EvalResult | None  # None: Ctrl-C came during it
    after: EvalResult | None  # None when interrupted
    episodes: list[EpisodeStats] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False  # stopped by Ctrl-C: `episodes` holds those completed

    def record(self, config: GRPOConfig) -> RLRecord:
        """What a checkpoint's metadata records about this run."""
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
            before=_score(self.before),
            after=_score(self.after),
            interrupted=self.interrupted,
        )


def _score(result: EvalResult | None) -> EvalScore | None:
    return None if result is None else EvalScore(result.exact, result.mean_reward)


def group_advantages(rewards: npt.ArrayLike) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """`rewards [P, G]` -> `(advantages [P, G], informative [P])`.

    `A = (r − mean) / (std + 1e-4)` per group (population std). A group whose
    rewards are all equal has A = 0 everywhere and is marked uninformative.
    """
    r = np.asarray(rewards, dtype=np.float64)
    mean = r.mean(axis=1, keepdims=True)
    std = r.std(axis=1, keepdims=True)
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
        self, model: Model, vocab: CharVocab, task: Task, config: GRPOConfig, trainer: Trainer | None = None
    ) -> None:
        config.check()
        check_vocab(vocab, task)
        if len(vocab) != model.config.vocab_size:
            raise VocabularyError(
                f"the vocabulary has {len(vocab)} characters, the model {model.config.vocab_size} tokens"
            )
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
        self.start = time.perf_counter()

    def step(self) -> EpisodeStats:
        cfg, task, vocab = self.config, self.task, self.vocab
        self.episode += 1
        prompts = [task.make(self.rng)[0] for _ in range(cfg.prompts_per_episode)]
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
        stats: GRPOStats | None = None
        keep = [i for i in range(len(outs)) if informative[i // g]]
        if keep:
            prompt_ids = [vocab.encode(PROMPT_PREFIX + prompts[i // g]) for i in keep]
            seqs, mask, old = build_batch(prompt_ids, [outs[i] for i in keep], self.stop_ids[0])
            batch = GRPOBatch(seqs, mask, old, adv.reshape(-1)[keep], self.reference.token_log_probs(seqs))
            with self.trainer.using(cfg.learning_rate, cfg.weight_decay, cfg.grad_clip):
                for k in range(cfg.inner_steps):
                    s = self.trainer.grpo_step(batch, cfg.clip, cfg.kl_beta)
                    stats = s if k == 0 else stats
        return EpisodeStats(
            episode=self.episode,
            mean_reward=mean_reward,
            running_reward=self.reward_sum / self.episode,
            exact=float((rewards >= 1.0).mean()),
            zero_spread=int((~informative).sum()),
            groups=len(prompts),
            mean_length=float(np.mean([len(c.tokens) for c in outs])),
            kl=stats.kl if stats else 0.0,
            clip_fraction=stats.clip_fraction if stats else 0.0,
            mean_ratio=stats.mean_ratio if stats else 1.0,
            loss=stats.loss if stats else 0.0,
            grad_norm=stats.grad_norm if stats else 0.0,
            example=(prompts[best // g], answers[best], float(rewards.reshape(-1)[best])),
            elapsed=time.perf_counter() - self.start,
        )


def run_rl(
    model: Model,
    trainer_or_lr: Trainer | float,
    vocab: Sequence[str] | CharVocab,
    task: Task | str,
    episodes: int,
    config: GRPOConfig | None = None,
    on_episode: Callable[[EpisodeStats], None] | None = None,
    on_eval: Callable[[str, EvalResult], None] | None = None,
    stop: StopFlag | None = None,
) -> RLReport:
    """GRPO on `task` for `episodes` batches, with a greedy held-out evaluation
    before and after. Updates `model` in place.

    `trainer_or_lr`: a learning rate (a fresh AdamW for RL), or the supervised
    `Trainer` — then RL continues its AdamW moments and step count (at
    `config.learning_rate`, weight decay and clip; the trainer's own come
    back after each update), so a checkpoint saved with that trainer stays
    consistent. `on_episode` is called every `config.log_every` episodes and
    on the first; `on_eval` with ("before" | "after", result). `stop`
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
    vocab = vocab if isinstance(vocab, CharVocab) else CharVocab(vocab)
    task = get_task(task) if isinstance(task, str) else task
    if episodes < 0:
        raise InputError(f"rlEpisodes must be non-negative, got {episodes}")
    run = GRPO(model, vocab, task, config, trainer)
    held_out = held_out_prompts(task, config.eval_prompts)
    report = RLReport(task.name, None, None)
    try:
        report.before = evaluate(model, vocab, task, held_out, config.max_len)
        if on_eval:
            on_eval("before", report.before)
        for _ in range(episodes):
            if stop is not None and stop.is_set:
                break
            s = run.step()
            report.episodes.append(s)
            if on_episode and (s.episode == 1 or s.episode % config.log_every == 0):
                on_episode(s)
    except KeyboardInterrupt:  # the core stopped at the first Ctrl-C: a clean stop, unlike a second one
        if stop is None or not stop.is_set or stop.aborted:
            raise
    report.interrupted = stop is not None and stop.is_set
    if not report.interrupted:
        report.after = evaluate(model, vocab, task, held_out, config.max_len)
        if on_eval:
            on_eval("after", report.after)
    report.seconds = time.perf_counter() - run.start
    return report
