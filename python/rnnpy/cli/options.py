"""The option table: every option of every command, in one place.

Each option is a field of a frozen dataclass — one per group (model,
training, generation, ...) — declared with ``option()``: its command-line
name (the old program's camelCase spelling), default, help, check, and the
commands that accept it (the group's ``COMMANDS`` unless it says otherwise).
The parser (``rnnpy.cli.parser``) reads argv against this table, and each
command receives the groups it uses, typed and frozen (``rnnpy.cli.commands``);
nothing below ``cli/`` sees an argument.

A new option is one more ``option()`` line in its group (a new group is one
more class in ``GROUPS`` and a field of the commands that use it).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rnnpy.batching import BATCHINGS
from rnnpy.model import ModelConfig
from rnnpy.rl.grpo import GRPOConfig
from rnnpy.rl.tasks import task_names
from rnnpy.schedule import SCHEDULES, Budget, LRSchedule, parse_duration
from rnnpy.training import EvalEvery

SAMPLE_TEXT = (
    "hello world this is a modern rnn with rmsnorm residual connections gru gates and swiglu mlp "
    "learning to predict characters in vanilla javascript"
)

# -- values: text -> value, then a check returning a problem or None -----------

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
BOOL_WORDS = _TRUE | _FALSE


def parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError("expected true/false, 1/0 or yes/no")


INT_LIMIT = 2**63  # every integer option fits a signed 64-bit integer (the core's sizes are 64-bit)


def parse_int(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("expected an integer") from None
    if not -INT_LIMIT < value < INT_LIMIT:
        raise ValueError(f"expected an integer of at most {INT_LIMIT - 1:,}")
    return value


def parse_float(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("expected a number") from None
    if not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


def parse_str(text: str) -> str:
    """Text as given, which must be valid Unicode: bytes that are not UTF-8
    reach Python as lone surrogates, which nothing can print or encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"not valid UTF-8 text (an undecodable byte at character {e.start})") from None
    return text


def parse_seconds(text: str) -> float:
    """A duration (``90s``, ``5m``, ``1h30m``, plain seconds) in seconds."""
    seconds = parse_duration(text)
    if not math.isfinite(seconds):
        raise ValueError("expected a finite duration")
    return seconds


def parse_eval_every(text: str) -> EvalEvery:
    """``N`` optimizer steps, or ``Nepochs`` (also ``Nepoch``, ``Ne``); 0 = only at the end."""
    t = text.strip().lower().replace(" ", "")
    for suffix in ("epochs", "epoch", "e"):
        if t.endswith(suffix) and t[: -len(suffix)].isdigit():
            return EvalEvery(epochs=int(t[: -len(suffix)]))
    if t.isdigit():
        return EvalEvery(steps=int(t))
    raise ValueError("expected a number of steps (500) or of epochs (1epoch)")


def eval_every_text(v: str) -> str | None:
    try:
        parse_eval_every(v)
    except ValueError as e:
        return str(e)
    return None


Check = Callable[[Any], "str | None"]


def at_least(n: float) -> Check:
    return lambda v: None if v >= n else f"must be at least {n}"


def between(low: int, high: int) -> Check:
    """For sizes Python builds lists of before the core sees them: far above any real use."""
    return lambda v: None if low <= v <= high else f"must be from {low} to {high:,}"


def positive(v: float) -> str | None:
    return None if v > 0 else "must be positive"


def non_negative(v: float) -> str | None:
    return None if v >= 0 else "must not be negative"


def open_unit(v: float) -> str | None:
    return None if 0 < v < 1 else "must be between 0 and 1 (exclusive)"


def fraction(v: float) -> str | None:
    return None if 0 <= v < 1 else "must be at least 0 and below 1"


def unit_top(v: float) -> str | None:
    return None if 0 < v <= 1 else "must be in (0, 1]"


def one_of(*choices: str) -> Check:
    return lambda v: None if v in choices else f"expected {' or '.join(choices)}"


def seed_text(v: str) -> str | None:
    """Seeds are u64 in the core; empty means a random one."""
    return None if v == "" or (v.isdigit() and int(v) < 2**64) else "expected an integer from 0 to 2^64 - 1"


def rl_task(v: str) -> str | None:
    return None if v in task_names() else f"unknown RL task (known: {', '.join(task_names())})"


# -- the option record ----------------------------------------------------------


@dataclass(frozen=True)
class Option:
    name: str  # the command-line spelling, camelCase (the old program's where it had the option)
    field: str  # the dataclass field it fills
    group: type  # the dataclass
    default: Any
    help: str
    parse: Callable[[str], Any]
    check: Check | None
    commands: frozenset[str]
    aliases: tuple[str, ...] = ()  # other names, e.g. `vocabSize` for `bpeVocabSize` (`tokenizer train --vocab-size`)
    short: str | None = None  # a one-letter `-x` form
    metavar: str = "VALUE"
    shown: str | None = None  # the default as help shows it, when not str(default)
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # per-command defaults
    long_text: bool = False  # recorded in checkpoints as "(N chars)" when long

    @property
    def is_bool(self) -> bool:
        return self.parse is parse_bool

    def default_for(self, command: str) -> Any:
        return self.defaults.get(command, self.default)

    def value(self, text: str) -> Any:
        """The value of `text`; ValueError says what is wrong with it."""
        value = self.parse(text)
        problem = self.check(value) if self.check else None
        if problem:
            raise ValueError(problem)
        return value

    def checked(self, value: Any) -> Any:
        """A value given from Python (``rnnpy.train_text``'s keywords): of the
        option's type (an int for a float is fine), then its check; TypeError
        or ValueError says what is wrong."""
        kind = type(self.default)
        accepted = (int, float) if kind is float else kind
        if isinstance(value, bool) is not (kind is bool) or not isinstance(value, accepted):
            raise TypeError(f"expected {kind.__name__}, got {value!r}")
        if kind is float and not math.isfinite(value):
            raise ValueError("expected a finite number")
        problem = self.check(value) if self.check else None
        if problem:
            raise ValueError(problem)
        return float(value) if kind is float else value

    def shown_default(self, command: str) -> str:
        default = self.default_for(command)
        if self.shown is not None and command not in self.defaults:
            return self.shown
        if isinstance(default, bool):
            return "true" if default else "false"
        return "(none)" if default == "" else str(default)


_KIND = {bool: parse_bool, int: parse_int, float: parse_float, str: parse_str}
_SPEC = "rnnpy.option"


def option(
    name: str,
    default: Any,
    help: str,
    check: Check | None = None,
    *,
    commands: frozenset[str] | None = None,
    parse: Callable[[str], Any] | None = None,
    aliases: tuple[str, ...] = (),
    short: str | None = None,
    metavar: str = "VALUE",
    shown: str | None = None,
    defaults: Mapping[str, Any] | None = None,
    long_text: bool = False,
) -> Any:
    """A dataclass field that is a command-line option (see the module docstring)."""
    spec = {
        "name": name,
        "default": default,
        "help": help,
        "check": check,
        "commands": commands,
        "parse": parse or _KIND[type(default)],
        "aliases": aliases,
        "short": short,
        "metavar": metavar,
        "shown": shown,
        "defaults": dict(defaults or {}),
        "long_text": long_text,
    }
    return dataclasses.field(default=default, metadata={_SPEC: spec})


# generate and eval take train's options, so a train command line can become one of theirs
TRAIN = frozenset({"train", "generate", "eval"})
RL = TRAIN | {"rl"}
TOKENIZER_TRAIN = frozenset({"tokenizer train"})
TOKENIZER_USE = frozenset({"tokenizer encode", "tokenizer decode"})
EXPORT = frozenset({"export"})

# -- the groups ------------------------------------------------------------------


@dataclass(frozen=True)
class ModelOptions:
    """The architecture: rnnpy.ModelConfig's fields but vocab_size, by the same names."""

    TITLE: ClassVar[str] = "Model"
    COMMANDS: ClassVar[frozenset[str]] = TRAIN

    hidden_size: int = option("hiddenSize", 32, "hidden state size", at_least(1))
    num_layers: int = option("numLayers", 1, "stacked recurrent layers", at_least(1))
    embed_size: int = option("embedSize", 16, "token embedding size", at_least(1))
    num_heads: int = option("numHeads", 4, "RWKV heads (must divide hiddenSize)", at_least(1))
    num_experts: int = option("numExperts", 4, "MoE experts per layer", at_least(1))
    top_k: int = option("topK", 1, "experts routed to besides expert 0", non_negative)
    fast_mode: bool = option("fastMode", False, "no MoE MLP blocks (lighter model)")
    use_rwkv: bool = option("useRWKV", True, "RWKV linear attention in the GRU cells")

    def config(self, vocab_size: int) -> ModelConfig:
        return ModelConfig(vocab_size=vocab_size, **dataclasses.asdict(self))


@dataclass(frozen=True)
class DataOptions:
    TITLE: ClassVar[str] = "Training data"
    COMMANDS: ClassVar[frozenset[str]] = RL | EXPORT  # export: the vocabulary of an old program's checkpoint

    training_text: str = option(
        "trainingText", SAMPLE_TEXT, "text to train on", shown="(built-in sample)", metavar="TEXT", long_text=True
    )
    training_file: str = option("trainingFile", "", "UTF-8 file to train on (wins over trainingText)", metavar="FILE")


@dataclass(frozen=True)
class TrainingOptions:
    TITLE: ClassVar[str] = "Training"
    COMMANDS: ClassVar[frozenset[str]] = TRAIN
    RESUMED: ClassVar[bool] = True  # a resumed run takes these from the checkpoint unless given again

    epochs: int = option("epochs", 500, "train up to this epoch", non_negative)
    learning_rate: float = option("learningRate", 0.001, "AdamW learning rate", positive)
    weight_decay: float = option("weightDecay", 0.01, "AdamW decoupled weight decay", non_negative)
    batch_size: int = option("batchSize", 4, "windows per batch", at_least(1))
    seq_length: int = option("seqLength", 25, "tokens per window (BPTT length)", at_least(1))
    grad_clip: float = option("gradClip", 1.0, "clip the global gradient norm to this (0 = off)", non_negative)
    log_every: int = option("logEvery", 25, "log a line every N epochs (and the first)", at_least(1))
    skip_non_finite: bool = option(
        "skipNonFinite", False, "skip (and count) steps whose loss or gradient is NaN/inf instead of stopping"
    )
    batching: str = option(
        "batching",
        "shuffled",
        "how the text becomes batches: shuffled (windows, each epoch), random (windows at any offset) "
        "or stateful (each row its own stream, state carried)",
        one_of(*BATCHINGS),
        metavar="MODE",
    )
    max_time: float = option(
        "maxTime", 0.0, "stop training after this long (90s, 5m, 1h30m; 0 = no limit)", non_negative,
        parse=parse_seconds, shown="0 (none)", metavar="TIME",
    )  # fmt: skip
    max_steps: int = option("maxSteps", 0, "stop after this many optimizer steps in all (0 = no limit)", non_negative)
    lr_schedule: str = option(
        "lrSchedule", "constant", "learning rate over the run: constant, cosine or linear decay", one_of(*SCHEDULES),
        metavar="NAME",
    )  # fmt: skip
    warmup_steps: int = option("warmupSteps", 0, "raise the learning rate linearly over this many steps", non_negative)
    min_learning_rate: float = option("minLearningRate", 0.0, "where cosine and linear decay end", non_negative)

    def budget(self) -> Budget:
        return Budget(self.epochs, self.max_steps, self.max_time)

    def schedule(self) -> LRSchedule:
        return LRSchedule(self.learning_rate, self.lr_schedule, self.min_learning_rate, self.warmup_steps)


@dataclass(frozen=True)
class ValidationOptions:
    TITLE: ClassVar[str] = "Validation"
    COMMANDS: ClassVar[frozenset[str]] = TRAIN
    RESUMED: ClassVar[bool] = True

    fraction: float = option(
        "valFraction", 0.0, "hold out this last fraction of the training text for validation (0 = none)", fraction
    )
    file: str = option("valFile", "", "UTF-8 file to validate on (instead of a held-out fraction)", metavar="FILE")
    every: str = option(
        "evalEvery", "1epoch", "validate every N steps, or every N epochs (Nepochs); 0 = only at the end",
        eval_every_text, metavar="N",
    )  # fmt: skip
    save_best: bool = option("saveBest", False, "also save the best-validation model as NAME_best.bin")
    patience: int = option("patience", 0, "stop after N validations without a new best (0 = never)", non_negative)

    @property
    def enabled(self) -> bool:
        return self.fraction > 0 or bool(self.file)

    def eval_every(self) -> EvalEvery:
        return parse_eval_every(self.every)


@dataclass(frozen=True)
class GenerationOptions:
    TITLE: ClassVar[str] = "Generation"
    COMMANDS: ClassVar[frozenset[str]] = TRAIN

    temperature: float = option("temperature", 0.8, "sampling temperature; 0 = greedy (argmax)", non_negative)
    gen_length: int = option("genLength", 100, "tokens to generate", non_negative)
    prompt: str = option(
        "prompt", "", "text fed before sampling (default: first char of the training text)", metavar="TEXT"
    )
    sample_top_k: int = option(
        "sampleTopK", 0, "sample only from the K most likely tokens (0 = all; not the MoE --topK)", non_negative
    )
    sample_top_p: float = option(
        "sampleTopP", 1.0, "sample from the fewest most likely tokens whose probability reaches P (1 = all)", unit_top
    )


@dataclass(frozen=True)
class CheckpointOptions:
    TITLE: ClassVar[str] = "Checkpoints"
    COMMANDS: ClassVar[frozenset[str]] = TRAIN

    save_path: str = option(
        "savePath",
        "./checkpoint.bin",
        "where the checkpoint is written (rl: over --loadCheckpoint)",
        commands=RL,
        defaults={"rl": ""},
        metavar="PATH",
    )
    save_every: int = option("saveEvery", 0, "also save every N epochs as NAME_epochN.bin (0 = off)", non_negative)
    load_checkpoint: str = option(
        "loadCheckpoint",
        "",
        "resume training from / generate with / fine-tune this checkpoint (generate: or an export directory)",
        commands=RL,
        metavar="PATH",
    )
    save_on_complete: bool = option("saveOnComplete", True, "save savePath when training finishes")


@dataclass(frozen=True)
class BPEOptions:
    TITLE: ClassVar[str] = "BPE tokenizer"
    COMMANDS: ClassVar[frozenset[str]] = TRAIN

    use_bpe: bool = option("useBPE", False, "train on BPE tokens instead of characters", commands=TRAIN | EXPORT)
    train_bpe: bool = option("trainBPE", False, "only train and save a tokenizer, then exit")
    vocab_size: int = option(
        "bpeVocabSize",
        512,
        "target tokenizer vocabulary size",
        at_least(1),
        commands=TRAIN | TOKENIZER_TRAIN,
        aliases=("vocabSize",),
    )
    min_frequency: int = option(
        "bpeMinFrequency",
        2,
        "smallest pair count that is merged",
        non_negative,
        commands=TRAIN | TOKENIZER_TRAIN,
        aliases=("minFrequency",),
    )
    scheme: str = option(
        "bpeScheme",
        "utf8-bytes",
        "base ids of tokenizers trained here: utf8-bytes (lossless) or latin1 (the old program's)",
        one_of("utf8-bytes", "latin1"),
        commands=TRAIN | TOKENIZER_TRAIN,
        aliases=("scheme",),
    )
    save_path: str = option("bpeSavePath", "./tokenizer.json", "where a trained tokenizer is saved", metavar="FILE")
    load_path: str = option(
        "bpeLoadPath",
        "",
        "the tokenizer.json to use (train: else one is trained on the text)",
        commands=TRAIN | TOKENIZER_USE | EXPORT,
        aliases=("tokenizer",),
        metavar="FILE",
    )
    training_file: str = option("bpeTrainingFile", "", "tokenizer training file (trainBPE)", metavar="FILE")
    training_text: str = option(
        "bpeTrainingText", "", "tokenizer training text (trainBPE)", metavar="TEXT", long_text=True
    )


@dataclass(frozen=True)
class RLOptions:
    TITLE: ClassVar[str] = "RL"
    COMMANDS: ClassVar[frozenset[str]] = RL

    do_rl: bool = option("doRL", False, "after training, fine-tune with RL (GRPO) on --rlTask", commands=TRAIN)
    task: str = option(
        "rlTask",
        "copy",
        "RL task: " + ", ".join(task_names()),
        rl_task,
        commands=RL | {"tasks"},
        aliases=("task",),
        metavar="NAME",
    )
    episodes: int = option("rlEpisodes", 100, "RL episodes (GRPO batches)", non_negative)
    learning_rate: float = option("rlLearningRate", 1e-4, "AdamW learning rate of the RL phase", positive)
    group_size: int = option("rlGroupSize", 8, "completions sampled per prompt (G)", between(2, 65_536))
    prompts: int = option("rlPrompts", 8, "prompts per episode", between(1, 65_536))
    clip: float = option("rlClip", 0.2, "epsilon of the clipped ratio", open_unit)
    kl: float = option("rlKL", 0.0, "beta of the KL penalty to the policy at the start of RL", non_negative)
    inner_steps: int = option("rlInnerSteps", 1, "updates per sampled batch (mu)", at_least(1))
    temperature: float = option(
        "rlTemperature", 1.0, "RL sampling temperature (the GRPO log-probs are taken at it too)", positive
    )
    max_len: int = option(
        "rlMaxLen", 20, "most tokens per completion (an answer ends at a newline)", between(1, 1_000_000)
    )
    eval_prompts: int = option("rlEvalPrompts", 200, "held-out prompts of the greedy evaluation", between(1, 1_000_000))
    log_every: int = option("rlLogEvery", 10, "log every N RL episodes (and the first)", at_least(1))

    def grpo_config(self, seed: int) -> GRPOConfig:
        return GRPOConfig(
            group_size=self.group_size,
            prompts_per_episode=self.prompts,
            clip=self.clip,
            kl_beta=self.kl,
            inner_steps=self.inner_steps,
            learning_rate=self.learning_rate,
            temperature=self.temperature,
            max_len=self.max_len,
            log_every=self.log_every,
            seed=seed,
            eval_prompts=self.eval_prompts,
        )


@dataclass(frozen=True)
class RunOptions:
    TITLE: ClassVar[str] = "Run"
    COMMANDS: ClassVar[frozenset[str]] = TRAIN

    seed: str = option(
        "seed",
        "",
        "seed of init, shuffling and sampling (empty: a random one, printed)",
        seed_text,
        commands=RL | {"tasks"},
        defaults={"rl": "0", "tasks": "0"},
        shown="(random)",
        metavar="N",
    )
    quiet: bool = option("quiet", False, "print only the results (and errors)", commands=RL | TOKENIZER_TRAIN)
    metrics_file: str = option(
        "metricsFile", "", "append one JSON line per epoch (and per RL episode) to this file", commands=RL,
        metavar="FILE",
    )  # fmt: skip

    def fixed_seed(self) -> int | None:
        """The seed given (or the command's default), None for a random one."""
        return int(self.seed) if self.seed else None


@dataclass(frozen=True)
class DistributedOptions:
    """Data-parallel training over MPI ranks (rnnpy.distributed, README "Training on many processes")."""

    TITLE: ClassVar[str] = "Distributed"
    COMMANDS: ClassVar[frozenset[str]] = TRAIN

    mode: str = option(
        "distributed",
        "auto",
        "auto: MPI when an MPI launcher started several ranks; mpi: require it; off: one process",
        one_of("auto", "mpi", "off"),
        metavar="MODE",
    )
    timeout: float = option(
        "distributedTimeout", 120.0, "seconds a rank waits for the others before naming the lost one and aborting",
        positive, metavar="SECONDS",
    )  # fmt: skip


@dataclass(frozen=True)
class TasksOptions:
    TITLE: ClassVar[str] = "Task corpus"
    COMMANDS: ClassVar[frozenset[str]] = frozenset({"tasks"})

    n: int = option("n", 5000, "solved examples to print, one per line", at_least(1))


@dataclass(frozen=True)
class FileOptions:
    """Files a command reads or writes besides its positional ones."""

    TITLE: ClassVar[str] = "Files"
    COMMANDS: ClassVar[frozenset[str]] = TOKENIZER_TRAIN | {"tokenizer encode"}

    input: str = option("input", "", "UTF-8 text file to read", metavar="FILE")
    text: str = option("text", "", "text given inline", metavar="TEXT", long_text=True)
    output: str = option(
        "output",
        "tokenizer.json",
        "the file to write; for export, the directory",
        commands=TOKENIZER_TRAIN | EXPORT | {"import", "plot"},
        defaults={"plot": "curves.png", "export": "", "import": ""},
        short="o",
        metavar="PATH",
    )
    hf_output: str = option(
        "hfOutput", "", "also write a Hugging Face tokenizers JSON", commands=TOKENIZER_TRAIN, metavar="FILE"
    )


@dataclass(frozen=True)
class EvalOptions:
    TITLE: ClassVar[str] = "Evaluation"
    COMMANDS: ClassVar[frozenset[str]] = frozenset({"eval"})

    file: str = option("file", "", "UTF-8 text to score under the checkpoint", metavar="FILE")


@dataclass(frozen=True)
class InfoOptions:
    TITLE: ClassVar[str] = "Output"
    COMMANDS: ClassVar[frozenset[str]] = frozenset({"info"})

    json: bool = option("json", False, "print the record as one JSON object")


@dataclass(frozen=True)
class ExportOptions:
    TITLE: ClassVar[str] = "Export"
    COMMANDS: ClassVar[frozenset[str]] = EXPORT

    format: str = option(
        "format", "safetensors", "the export format", one_of("safetensors"), parse=str.lower, metavar="NAME"
    )


#: Every group, in the order help lists them.
GROUPS: tuple[type, ...] = (
    ModelOptions,
    DataOptions,
    TrainingOptions,
    ValidationOptions,
    EvalOptions,
    GenerationOptions,
    CheckpointOptions,
    BPEOptions,
    RLOptions,
    RunOptions,
    DistributedOptions,
    TasksOptions,
    FileOptions,
    InfoOptions,
    ExportOptions,
)


def _options(group: type) -> list[Option]:
    out = []
    for f in dataclasses.fields(group):
        spec = dict(f.metadata[_SPEC])
        spec["commands"] = frozenset(spec["commands"] or group.COMMANDS)  # type: ignore[attr-defined]
        out.append(Option(field=f.name, group=group, **spec))
    return out


#: The whole table.
OPTIONS: tuple[Option, ...] = tuple(o for g in GROUPS for o in _options(g))


def options_for(command: str) -> list[Option]:
    """The options `command` accepts, in table order."""
    return [o for o in OPTIONS if command in o.commands]


def key(name: str) -> str:
    """How spellings compare: case, '-' and '_' do not matter."""
    return name.replace("-", "").replace("_", "").lower()


def option_names(group: type) -> dict[str, str]:
    """A group's fields -> their option names."""
    return {o.field: o.name for o in OPTIONS if o.group is group}
