"""``python -m rnnpy rl`` and ``python -m rnnpy tasks``.

    python -m rnnpy tasks --task=copy --n=5000 > copy.txt
    python -m rnnpy rl --loadCheckpoint=model.bin --rlTask=copy --rlEpisodes=200

Options use the old program's spelling (`--rlTask=copy`, case-insensitive)
or the Python one (`--rl-task copy`). Errors are one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any

from rnnpy.rl.codec import CharCodec
from rnnpy.rl.grpo import GRPOConfig, run_rl
from rnnpy.rl.tasks import corpus_lines, get_task, task_names

# (old spelling, type, default, help)
RL_OPTIONS: list[tuple[str, Any, Any, str]] = [
    ("rlTask", str, "copy", "RL task: " + ", ".join(task_names())),
    ("rlEpisodes", int, 100, "GRPO batches (episodes)"),
    ("rlLearningRate", float, 1e-4, "AdamW learning rate of the RL phase"),
    ("rlGroupSize", int, 8, "completions sampled per prompt (G)"),
    ("rlPrompts", int, 8, "prompts per episode"),
    ("rlClip", float, 0.2, "ε of the clipped ratio"),
    ("rlKL", float, 0.0, "β of the KL penalty to the policy at the start of RL"),
    ("rlInnerSteps", int, 1, "updates per sampled batch (μ)"),
    ("rlTemperature", float, 1.0, "sampling temperature"),
    ("rlMaxLen", int, 20, "most tokens per completion (an answer ends at a newline)"),
    ("rlEvalPrompts", int, 200, "held-out prompts of the greedy evaluation"),
    ("rlLogEvery", int, 10, "log every N episodes"),
]


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower().replace("r-l", "rl").replace("k-l", "kl")


def normalise_argv(argv: Sequence[str], names: Sequence[str]) -> list[str]:
    """`--RLtask=x` / `--rltask=x` -> `--rlTask=x`: the old program's keys were case-insensitive."""
    by_lower = {n.lower(): n for n in names}
    out = []
    for a in argv:
        if a.startswith("--"):
            key, eq, val = a[2:].partition("=")
            canon = by_lower.get(key.lower().replace("-", "").replace("_", ""))
            if canon is not None:
                a = f"--{canon}{eq}{val}"
        out.append(a)
    return out


def add_rl_options(p: argparse.ArgumentParser) -> None:
    """Adds every `--rl*` option (old spelling and kebab-case alias)."""
    for name, typ, default, help_ in RL_OPTIONS:
        p.add_argument(f"--{name}", f"--{_kebab(name)}", dest=name, type=typ, default=default, help=f"{help_} (default {default})")


def config_from_args(ns: argparse.Namespace, seed: int) -> GRPOConfig:
    return GRPOConfig(
        group_size=ns.rlGroupSize,
        prompts_per_episode=ns.rlPrompts,
        clip=ns.rlClip,
        kl_beta=ns.rlKL,
        inner_steps=ns.rlInnerSteps,
        learning_rate=ns.rlLearningRate,
        temperature=ns.rlTemperature,
        max_len=ns.rlMaxLen,
        log_every=max(1, ns.rlLogEvery),
        seed=seed,
        eval_prompts=ns.rlEvalPrompts,
    )


def vocab_from_metadata(meta: dict[str, Any] | None) -> list[str] | None:
    """The character vocabulary a checkpoint's metadata records, if any.

    Accepts `{"vocab": [...chars]}` / `{"vocab": "chars"}`, the same under
    `"chars"`, or `{"tokenizer": {"type": "char", "vocab": ...}}`.
    """
    if not meta:
        return None
    for holder in (meta, meta.get("tokenizer") if isinstance(meta.get("tokenizer"), dict) else None):
        if not holder:
            continue
        for key in ("vocab", "chars"):
            v = holder.get(key)
            if isinstance(v, str):
                return list(v)
            if isinstance(v, list) and all(isinstance(c, str) and len(c) == 1 for c in v):
                return list(v)
    return None


def _rl_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rnnpy rl", description="GRPO fine-tuning of a checkpoint on a verifiable task.")
    p.add_argument("--loadCheckpoint", "--load-checkpoint", dest="loadCheckpoint", required=True)
    p.add_argument("--savePath", "--save-path", dest="savePath", default=None, help="default: overwrite --loadCheckpoint")
    p.add_argument("--trainingText", "--training-text", dest="trainingText", default=None, help="text whose characters are the vocabulary (old checkpoints)")
    p.add_argument("--trainingFile", "--training-file", dest="trainingFile", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    add_rl_options(p)
    return p


def _names(p: argparse.ArgumentParser) -> list[str]:
    return [a.dest for a in p._actions if a.dest != "help"]


def rl_main(argv: Sequence[str]) -> int:
    from rnnpy.checkpoint import load_checkpoint, save_checkpoint

    p = _rl_parser()
    ns = p.parse_args(normalise_argv(argv, _names(p)))
    say = (lambda *a: None) if ns.quiet else print
    ck = load_checkpoint(ns.loadCheckpoint)
    vocab = vocab_from_metadata(ck.metadata)
    if ns.trainingFile:
        with open(ns.trainingFile, encoding="utf-8") as f:
            vocab = sorted(set(f.read()))
    elif ns.trainingText:
        vocab = sorted(set(ns.trainingText))
    if vocab is None:
        raise ValueError(f"checkpoint '{ns.loadCheckpoint}' records no vocabulary: give the training text (--trainingText or --trainingFile)")
    if len(vocab) != ck.config.vocab_size:
        raise ValueError(f"the vocabulary has {len(vocab)} characters but the checkpoint's model has {ck.config.vocab_size} tokens")
    task = get_task(ns.rlTask)
    cfg = config_from_args(ns, ns.seed)
    trainer = ck.trainer(learning_rate=cfg.learning_rate)
    say(f"RL: {task.name} | episodes {ns.rlEpisodes} | G {cfg.group_size} | prompts {cfg.prompts_per_episode} | lr {cfg.learning_rate} | clip {cfg.clip} | KL {cfg.kl_beta} | μ {cfg.inner_steps}")
    report = run_rl(
        ck.model,
        trainer,
        CharCodec(vocab),
        task,
        ns.rlEpisodes,
        cfg,
        on_episode=lambda s: say(s.line() + "\n" + s.example_line()),
        on_eval=lambda when, r: say(f"{'Before' if when == 'before' else 'After'} RL: {r.line()}"),
    )
    say(f"RL done in {report.seconds:.1f}s")
    meta = dict(ck.metadata or {})
    meta["rl"] = report.metadata(cfg)
    if vocab_from_metadata(meta) is None:
        meta["vocab"] = vocab
    path = ns.savePath or ns.loadCheckpoint
    save_checkpoint(path, ck.model, trainer, meta)
    say(f"Saved binary checkpoint to {path}")
    return 0


def tasks_main(argv: Sequence[str]) -> int:
    """Prints `n` solved examples of a task, one per line."""
    p = argparse.ArgumentParser(prog="rnnpy tasks", description="Write a task corpus for supervised training.")
    p.add_argument("--task", default="copy", help="one of: " + ", ".join(task_names()))
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    ns = p.parse_args(normalise_argv(argv, _names(p)))
    if ns.n < 1:
        raise ValueError(f"--n must be at least 1, got {ns.n}")
    out = sys.stdout
    for line in corpus_lines(get_task(ns.task), ns.n, ns.seed):
        out.write(line + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`rl ...` or `tasks ...`; one-line errors, status 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("rl", "tasks"):
        print("usage: python -m rnnpy {rl,tasks} [options]", file=sys.stderr)
        return 2
    try:
        return (rl_main if args[0] == "rl" else tasks_main)(args[1:])
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
