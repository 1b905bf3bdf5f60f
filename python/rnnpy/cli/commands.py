"""Every command: its name, what it does, its usage line, the module that
runs it, and the typed arguments it receives. Which options a command
accepts is the option table's business (``rnnpy.cli.options``)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from rnnpy.cli.options import (
    BPEOptions,
    CheckpointOptions,
    DataOptions,
    DistributedOptions,
    EvalOptions,
    ExportOptions,
    FileOptions,
    GenerationOptions,
    InfoOptions,
    ModelOptions,
    RLOptions,
    RunOptions,
    TasksOptions,
    TrainingOptions,
    ValidationOptions,
)

# -- what each command receives ----------------------------------------------------


@dataclass(frozen=True)
class TrainArgs:
    """`train` and `generate` (which accepts train's options)."""

    model: ModelOptions
    data: DataOptions
    training: TrainingOptions
    validation: ValidationOptions
    generation: GenerationOptions
    checkpoint: CheckpointOptions
    bpe: BPEOptions
    rl: RLOptions
    run: RunOptions
    distributed: DistributedOptions
    given: frozenset[str]  # option names given on the command line (a checkpoint's settings win over the rest)


@dataclass(frozen=True)
class EvalArgs:
    """`eval`: a checkpoint, the text to score; train's options for an old program's checkpoint."""

    checkpoint: CheckpointOptions
    data: DataOptions
    bpe: BPEOptions
    eval: EvalOptions
    run: RunOptions
    given: frozenset[str]


@dataclass(frozen=True)
class RLArgs:
    checkpoint: CheckpointOptions
    data: DataOptions
    rl: RLOptions
    run: RunOptions
    given: frozenset[str]


@dataclass(frozen=True)
class TasksArgs:
    rl: RLOptions  # the task
    tasks: TasksOptions
    run: RunOptions


@dataclass(frozen=True)
class TokenizerArgs:
    """`tokenizer train|encode|decode`; `ids` are decode's positional token ids."""

    bpe: BPEOptions
    files: FileOptions
    run: RunOptions
    ids: tuple[str, ...]


@dataclass(frozen=True)
class InfoArgs:
    info: InfoOptions
    paths: tuple[str, ...]  # the checkpoint


@dataclass(frozen=True)
class PlotArgs:
    files: FileOptions  # the image to write
    paths: tuple[str, ...]  # metrics files, one run each


@dataclass(frozen=True)
class ExportArgs:
    """`export`; the data and BPE options give an old program's checkpoint its vocabulary."""

    export: ExportOptions
    files: FileOptions
    data: DataOptions
    bpe: BPEOptions
    given: frozenset[str]
    paths: tuple[str, ...]  # the checkpoint


@dataclass(frozen=True)
class ImportArgs:
    files: FileOptions  # the checkpoint to write
    paths: tuple[str, ...]  # the export directory


# -- the commands --------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    name: str  # "train", "tokenizer encode", ...
    summary: str
    usage: str
    entry: str  # "module:function", called with the built arguments, returning the exit status
    args: type
    positional: str | None = None  # the name of the args field that takes non-option arguments
    nargs: tuple[int, int | None] = (0, None)  # how many of them: at least, at most (None: any)
    positional_help: str = ""  # what they are, for the error when there are too few or too many
    required: tuple[str, ...] = ()  # option spellings that must be given
    one_of: tuple[tuple[str, ...], ...] = ()  # exactly one of these must be given

    def run(self, args: Any) -> int:
        module, _, function = self.entry.partition(":")
        return int(getattr(importlib.import_module(module), function)(args) or 0)


_TOKENIZER_USAGE = "python -m rnnpy tokenizer"

COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            "train",
            "train a model (the default command), save it, print a sample",
            "python -m rnnpy train [--name=value ...]",
            "rnnpy.cli.train:run",
            TrainArgs,
        ),
        Command(
            "generate",
            "sample text from a checkpoint alone, streaming tokens as they are drawn",
            "python -m rnnpy generate --loadCheckpoint=PATH [--prompt=TEXT] [--temperature=T] [--genLength=N] "
            "[--seed=S]",
            "rnnpy.cli.generate:run",
            TrainArgs,
            required=("loadCheckpoint",),
        ),
        Command(
            "eval",
            "score a text under a checkpoint: loss, perplexity, bits per character",
            "python -m rnnpy eval --loadCheckpoint=PATH --file=FILE",
            "rnnpy.cli.evaluate:run",
            EvalArgs,
            required=("loadCheckpoint", "file"),
        ),
        Command(
            "rl",
            "RL (GRPO) fine-tuning of a checkpoint on a verifiable task; evaluates before and after, saves",
            "python -m rnnpy rl --loadCheckpoint=PATH --rlTask=NAME [--rl* options]  (--rlEpisodes=0: evaluate only)",
            "rnnpy.cli.rl:run",
            RLArgs,
            required=("loadCheckpoint",),
        ),
        Command(
            "tasks",
            "print a task corpus for supervised training, one solved example per line",
            "python -m rnnpy tasks --task=copy --n=5000 > copy.txt",
            "rnnpy.cli.tasks:run",
            TasksArgs,
        ),
        Command(
            "tokenizer train",
            "learn BPE merges from a text and save tokenizer.json",
            f"{_TOKENIZER_USAGE} train --input=FILE|--text=TEXT [--vocab-size=N] [--output=FILE] [--hf-output=FILE]",
            "rnnpy.cli.tokenizer:train",
            TokenizerArgs,
            one_of=(("input", "text"),),
        ),
        Command(
            "tokenizer encode",
            "print the token ids of a text, space-separated",
            f"{_TOKENIZER_USAGE} encode --tokenizer=FILE --text=TEXT|--input=FILE",
            "rnnpy.cli.tokenizer:encode",
            TokenizerArgs,
            required=("tokenizer",),
            one_of=(("text", "input"),),
        ),
        Command(
            "tokenizer decode",
            "print the text of token ids (exactly, no newline added); ids from stdin if none",
            f"{_TOKENIZER_USAGE} decode --tokenizer=FILE [ID ...]",
            "rnnpy.cli.tokenizer:decode",
            TokenizerArgs,
            positional="ids",
            required=("tokenizer",),
        ),
        Command(
            "info",
            "describe a checkpoint: format, architecture, parameters, optimizer, training, vocabulary, options",
            "python -m rnnpy info CHECKPOINT|EXPORT_DIR [--json]",
            "rnnpy.cli.info:run",
            InfoArgs,
            positional="paths",
            nargs=(1, 1),
            positional_help="one checkpoint file or export directory",
        ),
        Command(
            "plot",
            "plot loss, learning rate and gradient norm of runs saved by train --metricsFile=FILE (needs rnnpy[plot])",
            "python -m rnnpy plot METRICS.jsonl [MORE.jsonl ...] [-o curves.png]",
            "rnnpy.cli.plot:run",
            PlotArgs,
            positional="paths",
            nargs=(1, None),
            positional_help="at least one metrics file",
        ),
        Command(
            "export",
            "write a checkpoint as model.safetensors + config.json + tokenizer.json (needs rnnpy[export])",
            "python -m rnnpy export CHECKPOINT --format=safetensors -o DIR [--trainingFile=F | --bpeLoadPath=F]",
            "rnnpy.cli.export:export",
            ExportArgs,
            positional="paths",
            nargs=(1, 1),
            positional_help="one checkpoint file or export directory",
            required=("output",),
        ),
        Command(
            "import",
            "turn an export directory back into a checkpoint (needs rnnpy[export])",
            "python -m rnnpy import DIR -o CHECKPOINT",
            "rnnpy.cli.export:import_",
            ImportArgs,
            positional="paths",
            nargs=(1, 1),
            positional_help="one export directory",
            required=("output",),
        ),
    )
}

#: Commands with subcommands (`tokenizer train`): the first word.
GROUPS = {"tokenizer": "train|encode|decode with a BPE tokenizer (docs/tokenizer.md)"}
