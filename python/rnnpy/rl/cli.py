"""``python -m rnnpy rl`` and ``python -m rnnpy tasks``.

    python -m rnnpy tasks --task=copy --n=5000 > copy.txt
    python -m rnnpy rl --loadCheckpoint=model.bin --rlTask=copy --rlEpisodes=200

Options use the old program's spelling (`--rlTask=copy`, case-insensitive)
or the Python one (`--rl-task copy`). Errors are one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from rnnpy.rl.grpo import GRPOConfig, RLReport, run_rl
from rnnpy.rl.options import RL_OPTIONS
from rnnpy.rl.tasks import check_vocab, corpus_lines, get_task, task_names
from rnnpy.vocab import CharVocab

__all__ = ["RL_OPTIONS", "add_rl_options", "config_from_args", "main", "rl_command", "run_phase", "tasks_command"]


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (`rnnpy rl: error: ...`), not usage + message."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def _checked(typ: type, check: Callable[[Any], str | None] | None) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            value = typ(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {typ.__name__}, got {text!r}") from None
        problem = check(value) if check else None
        if problem:
            raise argparse.ArgumentTypeError(f"{problem}, got {text!r}")
        return value

    convert.__name__ = typ.__name__
    return convert


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
    for name, typ, default, help_, check in RL_OPTIONS:
        p.add_argument(
            f"--{name}", f"--{_kebab(name)}", dest=name, type=_checked(typ, check), default=default,
            help=f"{help_} (default {default})",
        )  # fmt: skip


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


class UnsupportedVocabulary(ValueError):
    """The checkpoint's tokens are not characters (a BPE model)."""


def vocab_from_metadata(meta: dict[str, Any] | None) -> list[str] | None:
    """The character vocabulary a checkpoint's metadata records, if any.

    Reads what `python -m rnnpy train` writes, `{"rnnpy": {"vocab": {"type":
    "char", "chars": [...]}}}`, and also `{"vocab": [...chars]}` /
    `{"vocab": "chars"}`, the same under `"chars"`, or `{"tokenizer": {"type":
    "char", "vocab": ...}}`. A BPE model raises UnsupportedVocabulary: RL
    tasks are scored and fed character by character.
    """
    if not meta:
        return None
    ours = meta.get("rnnpy")
    entry = ours.get("vocab") if isinstance(ours, dict) else None
    if isinstance(entry, dict) and entry.get("type") == "bpe":
        raise UnsupportedVocabulary(
            "reinforcement learning needs a character-level model; this one uses a BPE tokenizer "
            "(train it without --useBPE)"
        )
    tokenizer = meta.get("tokenizer")
    for holder in (entry, meta, tokenizer):
        if not isinstance(holder, dict):
            continue
        for key in ("vocab", "chars"):
            v = holder.get(key)
            if isinstance(v, str):
                return list(v)
            if isinstance(v, list) and all(isinstance(c, str) and len(c) == 1 for c in v):
                return list(v)
    return None


def run_phase(
    model: Any,
    trainer: Any,
    vocab: Sequence[str],
    task_name: str,
    episodes: int,
    config: GRPOConfig,
    say: Callable[[str], None],
) -> RLReport:
    """The RL phase as both commands print it: a header line, the held-out
    evaluation before, a log line (and an example) every `rlLogEvery`
    episodes, the evaluation after."""
    task = get_task(task_name)
    say(
        f"RL (GRPO): task {task.name} | episodes {episodes} | G {config.group_size} | "
        f"prompts {config.prompts_per_episode} | lr {config.learning_rate} | clip {config.clip} | "
        f"KL {config.kl_beta} | inner steps {config.inner_steps}"
    )
    report = run_rl(
        model,
        trainer,
        CharVocab(vocab),
        task,
        episodes,
        config,
        on_episode=lambda s: say(s.line() + "\n" + s.example_line()),
        on_eval=lambda when, r: say(f"{'Before' if when == 'before' else 'After'} RL: {r.line()}"),
    )
    say(f"RL done in {report.seconds:.1f}s")
    return report


def _rl_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m rnnpy rl", description="GRPO fine-tuning of a checkpoint on a verifiable task.")
    p.add_argument("--loadCheckpoint", "--load-checkpoint", dest="loadCheckpoint", required=True)
    p.add_argument(
        "--savePath", "--save-path", dest="savePath", default=None, help="default: overwrite --loadCheckpoint"
    )
    p.add_argument(
        "--trainingText", "--training-text", dest="trainingText", default=None,
        help="text whose characters are the vocabulary (old checkpoints without one)",
    )  # fmt: skip
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
    cfg = config_from_args(ns, ns.seed)
    cfg.check()  # bad values fail before the checkpoint is read
    say = (lambda *a: None) if ns.quiet else (lambda text: print(text, flush=True))
    ck = load_checkpoint(ns.loadCheckpoint)
    vocab = vocab_from_metadata(ck.metadata)
    if vocab is None:  # an old program's checkpoint: the vocabulary comes from its training text
        if ns.trainingFile:
            with open(ns.trainingFile, encoding="utf-8") as f:
                vocab = sorted(set(f.read()))
        elif ns.trainingText:
            vocab = sorted(set(ns.trainingText))
        else:
            raise ValueError(
                f"checkpoint '{ns.loadCheckpoint}' records no vocabulary: give its training text "
                "(--trainingText or --trainingFile)"
            )
    if len(vocab) != ck.config.vocab_size:
        raise ValueError(
            f"the vocabulary has {len(vocab)} characters but the checkpoint's model has {ck.config.vocab_size} tokens"
        )
    check_vocab(CharVocab(vocab), get_task(ns.rlTask))
    trainer = ck.trainer(learning_rate=cfg.learning_rate)
    say(f"Loaded binary checkpoint from {ns.loadCheckpoint} ({ck.config.num_parameters()} params)")
    report = run_phase(ck.model, trainer, vocab, ns.rlTask, ns.rlEpisodes, cfg, say)
    # Keep everything the checkpoint had (the old program's epoch/loss keys,
    # rnnpy's vocabulary and options) and add the RL run.
    meta = dict(ck.metadata or {})
    meta["rl"] = report.record(cfg).to_dict()
    ours = meta.setdefault("rnnpy", {})
    if isinstance(ours, dict) and "vocab" not in ours:  # so `generate` needs only this file
        ours["vocab"] = {"type": "char", "chars": list(vocab)}
    path = ns.savePath or ns.loadCheckpoint
    save_checkpoint(path, ck.model, trainer, meta)
    say(f"Saved binary checkpoint to {path} ({os.path.getsize(path) / 1_048_576:.2f} MB)")
    return 0


def tasks_main(argv: Sequence[str]) -> int:
    """Prints `n` solved examples of a task, one per line."""
    p = _Parser(prog="python -m rnnpy tasks", description="Write a task corpus for supervised training.")
    p.add_argument("--task", default="copy", help="one of: " + ", ".join(task_names()))
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    ns = p.parse_args(normalise_argv(argv, _names(p)))
    if ns.n < 1:
        raise ValueError(f"--n must be at least 1, got {ns.n}")
    task = get_task(ns.task)
    out = sys.stdout
    for line in corpus_lines(task, ns.n, ns.seed):
        out.write(line + "\n")
    return 0


def _run(command: str, body: Callable[[Sequence[str]], int], argv: Sequence[str]) -> int:
    """One-line errors on stderr with status 2; Ctrl-C is status 130."""
    try:
        return body(argv)
    except (ValueError, OSError) as e:
        print(f"rnnpy {command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nrnnpy {command}: interrupted (nothing saved)", file=sys.stderr)
        return 130


def rl_command(argv: Sequence[str]) -> int:
    """`python -m rnnpy rl ...` (argv: the options after `rl`)."""
    return _run("rl", rl_main, argv)


def tasks_command(argv: Sequence[str]) -> int:
    """`python -m rnnpy tasks ...` (argv: the options after `tasks`)."""
    return _run("tasks", tasks_main, argv)


def main(argv: Sequence[str] | None = None) -> int:
    """`rl ...` or `tasks ...`; one-line errors, status 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("rl", "tasks"):
        print("usage: python -m rnnpy {rl,tasks} [options]", file=sys.stderr)
        return 2
    return (rl_command if args[0] == "rl" else tasks_command)(args[1:])
