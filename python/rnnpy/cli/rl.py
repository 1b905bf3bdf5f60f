"""``python -m rnnpy rl``: GRPO fine-tuning of a checkpoint, and the RL phase
as both it and ``train --doRL=true`` print it.

    python -m rnnpy rl --loadCheckpoint=model.bin --rlTask=copy --rlEpisodes=200

RL works on character and BPE models alike (prompts are encoded with the
model's vocabulary, completions decoded before the verifier). It starts a
fresh AdamW, as TRL's GRPO does (docs/rl.md measures the alternative); the
checkpoint it saves carries that optimizer's state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable

from rnnpy.checkpoint import load_checkpoint
from rnnpy.cli.commands import RLArgs
from rnnpy.cli.data import check_output, checkpoint_vocab, save_model
from rnnpy.cli.generate import resolve_seed
from rnnpy.cli.options import BPEOptions
from rnnpy.interrupt import StopFlag, catch_sigint
from rnnpy.metadata import RunMetadata
from rnnpy.model import Model
from rnnpy.rl.evaluate import Evaluation
from rnnpy.rl.grpo import EpisodeStats, GRPOConfig, RLReport, run_rl
from rnnpy.rl.tasks import get_task
from rnnpy.rl.tokens import check_vocab, covering_vocab
from rnnpy.trainer import Trainer
from rnnpy.vocab import CharVocab, Vocab


def task_vocabulary(text: str, source: str, task_name: str, say: Callable[[str], None]) -> CharVocab:
    """The character vocabulary of a model that `train --doRL` trains and then
    fine-tunes: the text's characters plus any the task needs (the old
    program's README trains on the built-in sample, which has no newline)."""
    vocab, added = covering_vocab(text, get_task(task_name))
    if added:
        say(
            f"Vocabulary: the {vocab.size - len(added)} characters of {source} + {len(added)} "
            f"that RL task {task_name} needs ({', '.join(repr(c) for c in added)})"
        )
    return vocab


def check_task_vocab(vocab: Vocab, task_name: str) -> None:
    """Before any training: the model's vocabulary can spell the task (TaskError says what is missing)."""
    check_vocab(vocab, get_task(task_name))


def _eval_lines(when: str, e: Evaluation, task_name: str) -> str:
    first, second = e.lines(get_task(task_name))
    return f"{'Before' if when == 'before' else 'After'} RL: {first}\n{second}"


def rl_interrupted_path(path: str) -> str:
    """Where the state an interrupted RL run reached is saved: ``model.bin`` ->
    ``model_rl_interrupted.bin``, beside the file it never replaces."""
    root, ext = os.path.splitext(path)
    return f"{root}_rl_interrupted{ext}"


def run_phase(
    model: Model,
    vocab: Vocab,
    task_name: str,
    episodes: int,
    config: GRPOConfig,
    say: Callable[[str], None],
    metrics_file: str = "",
    stop: StopFlag | None = None,
) -> tuple[RLReport, Trainer]:
    """The RL phase: a header line, the evaluations before, a log line (and
    an example) every `rlLogEvery` episodes, the evaluations after (none when
    Ctrl-C stopped it: see `run_rl`); one JSON line per episode (and per
    evaluation) appended to `metrics_file`. Returns the report and the fresh
    trainer RL used."""
    task = get_task(task_name)
    say(
        f"RL (GRPO): task {task.name} | episodes {episodes} | G {config.group_size} | "
        f"prompts {config.prompts_per_episode} | lr {config.learning_rate} | clip {config.clip} | "
        f"KL {config.kl_beta} | inner steps {config.inner_steps} | temperature {config.temperature}"
    )
    trainer = Trainer(model, config.learning_rate, config.weight_decay, config.grad_clip)
    with contextlib.ExitStack() as stack:
        metrics = stack.enter_context(open(metrics_file, "a", encoding="utf-8")) if metrics_file else None

        def write(row: dict[str, object]) -> None:
            if metrics is not None:
                metrics.write(json.dumps(row) + "\n")
                metrics.flush()

        def on_eval(when: str, e: Evaluation) -> None:
            say(_eval_lines(when, e, task.name))
            for split, r in (("eval", e.held_out), ("general", e.general)):
                write({"phase": "rl_eval", "when": when, "split": split, "exact": r.exact, "reward": r.mean_reward})

        def on_every(s: EpisodeStats) -> None:
            write(s.metrics())

        # The KL to the start policy is measured on every episode only when
        # it is written down (β = 0 needs no reference otherwise).
        config = dataclasses.replace(config, track_kl=config.track_kl or metrics is not None)
        report = run_rl(
            model,
            trainer,
            vocab,
            task,
            episodes,
            config,
            on_episode=lambda s: say(s.line() + "\n" + s.example_line()),
            on_eval=on_eval,
            on_every_episode=on_every,
            stop=stop,
        )
    if report.interrupted:
        say(f"RL interrupted after {len(report.episodes)} of {episodes} episodes ({report.seconds:.1f}s)")
    else:
        say(f"RL done in {report.seconds:.1f}s ({report.episodes_per_second:.1f} episodes/s)")
    return report, trainer


def run(args: RLArgs) -> int:
    config = args.rl.grpo_config(resolve_seed(args.run))
    say: Callable[[str], None] = (lambda text: None) if args.run.quiet else (lambda text: print(text, flush=True))
    path = args.checkpoint.load_checkpoint
    ck = load_checkpoint(path)
    meta = RunMetadata.of(ck)
    vocab, _ = checkpoint_vocab(meta, ck.config.vocab_size, args.data, BPEOptions(), args.given, path)
    check_task_vocab(vocab, args.rl.task)
    out = args.checkpoint.save_path or path
    check_output(out, "--savePath" if args.checkpoint.save_path else "--loadCheckpoint")  # before RL, not after
    say(f"Loaded binary checkpoint from {path} ({ck.config.num_parameters()} params, {vocab.kind} vocabulary)")
    stop = StopFlag()
    with catch_sigint(stop):
        report, trainer = run_phase(
            ck.model, vocab, args.rl.task, args.rl.episodes, config, say, args.run.metrics_file, stop
        )
        # Keep everything the checkpoint had (the old program's epoch/loss keys,
        # rnnpy's options) and add the RL run and, so that `generate` needs only
        # this file, the vocabulary.
        meta = dataclasses.replace(meta, rl=report.record(config), vocab=vocab)
        saved = rl_interrupted_path(out) if report.interrupted else out  # never over the file it started from
        say(save_model(saved, ck.model, trainer, meta))
    if report.interrupted:
        print(f"Interrupted: the RL state reached is saved to {saved}; {out} is unchanged", file=sys.stderr)
        return 130
    return 0
