"""``python -m rnnpy rl``: GRPO fine-tuning of a checkpoint, and the RL phase
as both it and ``train --doRL=true`` print it.

    python -m rnnpy rl --loadCheckpoint=model.bin --rlTask=copy --rlEpisodes=200
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable

from rnnpy.checkpoint import load_checkpoint, save_checkpoint
from rnnpy.cli.commands import RLArgs
from rnnpy.cli.data import check_output, checkpoint_vocab
from rnnpy.cli.generate import resolve_seed
from rnnpy.cli.options import BPEOptions
from rnnpy.errors import UsageError
from rnnpy.interrupt import StopFlag, catch_sigint
from rnnpy.metadata import RunMetadata
from rnnpy.model import Model
from rnnpy.rl.grpo import GRPOConfig, RLReport, run_rl
from rnnpy.rl.tasks import check_vocab, get_task
from rnnpy.trainer import Trainer
from rnnpy.vocab import CharVocab


def rl_interrupted_path(path: str) -> str:
    """Where the state an interrupted RL run reached is saved: ``model.bin`` ->
    ``model_rl_interrupted.bin``, beside the file it never replaces."""
    root, ext = os.path.splitext(path)
    return f"{root}_rl_interrupted{ext}"


def run_phase(
    model: Model,
    trainer: Trainer,
    vocab: CharVocab,
    task_name: str,
    episodes: int,
    config: GRPOConfig,
    say: Callable[[str], None],
    stop: StopFlag | None = None,
) -> RLReport:
    """The RL phase: a header line, the held-out evaluation before, a log line
    (and an example) every `rlLogEvery` episodes, the evaluation after (none
    when Ctrl-C stopped it: see `run_rl`)."""
    task = get_task(task_name)
    say(
        f"RL (GRPO): task {task.name} | episodes {episodes} | G {config.group_size} | "
        f"prompts {config.prompts_per_episode} | lr {config.learning_rate} | clip {config.clip} | "
        f"KL {config.kl_beta} | inner steps {config.inner_steps}"
    )
    report = run_rl(
        model,
        trainer,
        vocab,
        task,
        episodes,
        config,
        on_episode=lambda s: say(s.line() + "\n" + s.example_line()),
        on_eval=lambda when, r: say(f"{'Before' if when == 'before' else 'After'} RL: {r.line()}"),
        stop=stop,
    )
    if report.interrupted:
        say(f"RL interrupted after {len(report.episodes)} of {episodes} episodes ({report.seconds:.1f}s)")
    else:
        say(f"RL done in {report.seconds:.1f}s")
    return report


def run(args: RLArgs) -> int:
    config = args.rl.grpo_config(resolve_seed(args.run))
    say: Callable[[str], None] = (lambda text: None) if args.run.quiet else (lambda text: print(text, flush=True))
    path = args.checkpoint.load_checkpoint
    ck = load_checkpoint(path)
    meta = RunMetadata.of(ck)
    vocab, _ = checkpoint_vocab(meta, ck.config.vocab_size, args.data, BPEOptions(), args.given, path)
    if not isinstance(vocab, CharVocab):
        raise UsageError(
            "reinforcement learning needs a character-level model; this one uses a BPE tokenizer "
            "(train it without --useBPE)"
        )
    check_vocab(vocab, get_task(args.rl.task))
    out = args.checkpoint.save_path or path
    check_output(out, "--savePath" if args.checkpoint.save_path else "--loadCheckpoint")  # before RL, not after
    trainer = ck.trainer(learning_rate=config.learning_rate)
    say(f"Loaded binary checkpoint from {path} ({ck.config.num_parameters()} params)")
    stop = StopFlag()
    with catch_sigint(stop):
        report = run_phase(ck.model, trainer, vocab, args.rl.task, args.rl.episodes, config, say, stop)
        # Keep everything the checkpoint had (the old program's epoch/loss keys,
        # rnnpy's options) and add the RL run and, so that `generate` needs only
        # this file, the vocabulary.
        meta = dataclasses.replace(meta, rl=report.record(config), vocab=vocab)
        saved = rl_interrupted_path(out) if report.interrupted else out  # never over the file it started from
        save_rl_checkpoint(saved, ck.model, trainer, meta, say)
    if report.interrupted:
        print(f"Interrupted: the RL state reached is saved to {saved}; {out} is unchanged", file=sys.stderr)
        return 130
    return 0


def save_rl_checkpoint(
    path: str, model: Model, trainer: Trainer, meta: RunMetadata, say: Callable[[str], None]
) -> None:
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    save_checkpoint(path, model, trainer, meta.to_dict())
    say(f"Saved binary checkpoint to {path} ({os.path.getsize(path) / 1_048_576:.2f} MB)")
