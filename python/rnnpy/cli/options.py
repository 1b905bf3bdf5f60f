"""The option table of the old program (same names, same defaults) plus
rnnpy's own, and the parser for both spellings.

Accepted forms, case-insensitively: ``--hiddenSize=64``, ``--hidden-size 64``,
``--hidden_size=64``. A boolean given without a value means true
(``--quiet``); ``--fastMode true`` also works. Unknown options and
unparsable values raise UsageError naming the option (the old program
silently ignored them).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable

from rnnpy.errors import UsageError
from rnnpy.rl.options import RL_OPTIONS

SAMPLE_TEXT = (
    "hello world this is a modern rnn with rmsnorm residual connections gru gates and swiglu mlp "
    "learning to predict characters in vanilla javascript"
)


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError("expected true/false, 1/0 or yes/no")


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("expected an integer") from None


def _float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError("expected a number") from None


@dataclass(frozen=True)
class Option:
    name: str  # the old camelCase spelling
    kind: str  # "int", "float", "bool", "str"
    default: Any
    help: str
    group: str
    check: Callable[[Any], str | None] | None = None  # returns an error message or None

    @property
    def kebab(self) -> str:
        return "".join("-" + c.lower() if c.isupper() else c for c in self.name)

    def parse(self, text: str) -> Any:
        if self.kind == "int":
            value: Any = _int(text)
        elif self.kind == "float":
            value = _float(text)
        elif self.kind == "bool":
            value = parse_bool(text)
        else:
            value = text
        problem = self.check(value) if self.check else None
        if problem:
            raise ValueError(problem)
        return value


def _at_least(n: float) -> Callable[[Any], str | None]:
    return lambda v: None if v >= n else f"must be at least {n}"


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be positive"


def _nonneg(v: float) -> str | None:
    return None if v >= 0 else "must not be negative"


def _optional_seed(v: str) -> str | None:
    if v == "":
        return None
    return None if v.isdigit() else "expected a non-negative integer"


_KINDS = {int: "int", float: "float", bool: "bool", str: "str"}

_A, _T, _G, _C, _B, _R, _N = "Model", "Training", "Generation", "Checkpoints", "BPE tokenizer", "RL", "rnnpy"

OPTIONS: tuple[Option, ...] = (
    Option("hiddenSize", "int", 32, "hidden state size", _A, _at_least(1)),
    Option("numLayers", "int", 1, "stacked recurrent layers", _A, _at_least(1)),
    Option("embedSize", "int", 16, "token embedding size", _A, _at_least(1)),
    Option("numHeads", "int", 4, "RWKV heads (must divide hiddenSize)", _A, _at_least(1)),
    Option("numExperts", "int", 4, "MoE experts per layer", _A, _at_least(1)),
    Option("topK", "int", 1, "experts routed to besides expert 0", _A, _nonneg),
    Option("fastMode", "bool", False, "no MoE MLP blocks (lighter model)", _A),
    Option("useRWKV", "bool", True, "RWKV linear attention in the GRU cells", _A),
    Option("trainingText", "str", SAMPLE_TEXT, "text to train on (default: the built-in sample)", _T),
    Option("trainingFile", "str", "", "UTF-8 file to train on (wins over trainingText)", _T),
    Option("epochs", "int", 500, "train up to this epoch", _T, _nonneg),
    Option("learningRate", "float", 0.001, "AdamW learning rate", _T, _positive),
    Option("weightDecay", "float", 0.01, "AdamW decoupled weight decay", _T, _nonneg),
    Option("batchSize", "int", 4, "windows per batch", _T, _at_least(1)),
    Option("seqLength", "int", 25, "tokens per window (BPTT length)", _T, _at_least(1)),
    Option("logEvery", "int", 25, "log a line every N epochs (and the first)", _T, _at_least(1)),
    Option("temperature", "float", 0.8, "sampling temperature; 0 = greedy (argmax)", _G, _nonneg),
    Option("genLength", "int", 100, "tokens to generate", _G, _nonneg),
    Option("savePath", "str", "./checkpoint.bin", "where the checkpoint is written", _C),
    Option("saveEvery", "int", 0, "also save every N epochs as NAME_epochN.bin (0 = off)", _C, _nonneg),
    Option("loadCheckpoint", "str", "", "resume training from / generate with this checkpoint", _C),
    Option("saveOnComplete", "bool", True, "save savePath when training finishes", _C),
    Option("useBPE", "bool", False, "train on BPE tokens instead of characters", _B),
    Option("trainBPE", "bool", False, "only train and save a tokenizer, then exit", _B),
    Option("bpeVocabSize", "int", 512, "target tokenizer vocabulary size", _B, _at_least(1)),
    Option("bpeSavePath", "str", "./tokenizer.json", "where a trained tokenizer is saved", _B),
    Option("bpeLoadPath", "str", "", "use this tokenizer.json (else one is trained)", _B),
    Option("bpeTrainingFile", "str", "", "tokenizer training file (trainBPE)", _B),
    Option("bpeTrainingText", "str", "", "tokenizer training text (trainBPE)", _B),
    Option("bpeMinFrequency", "int", 2, "smallest pair count that is merged", _B, _nonneg),
    Option("doRL", "bool", False, "after training, fine-tune with RL (GRPO) on --rlTask (char-level models)", _R),
    *(Option(name, _KINDS[typ], default, help_, _R, check) for name, typ, default, help_, check in RL_OPTIONS),
    Option(
        "seed", "str", "", "random seed for init, shuffling, sampling (default: random, printed)", _N, _optional_seed
    ),
    Option("gradClip", "float", 1.0, "clip the global gradient norm to this (0 = off)", _N, _nonneg),
    Option("quiet", "bool", False, "print only the generated text (and errors)", _N),
    Option("metricsFile", "str", "", "append one JSON line per epoch to this file", _N),
    Option("prompt", "str", "", "text fed before sampling (default: first char of the training text)", _N),
    Option(
        "bpeScheme",
        "str",
        "utf8-bytes",
        "base ids of tokenizers trained here: utf8-bytes (lossless) or latin1 (the old program's)",
        _N,
        lambda v: None if v in ("utf8-bytes", "latin1") else "expected utf8-bytes or latin1",
    ),
)


def _key(name: str) -> str:
    return name.replace("-", "").replace("_", "").lower()


BY_KEY: dict[str, Option] = {_key(o.name): o for o in OPTIONS}


class Options:
    """Parsed values by camelCase name (``opts.hiddenSize``); ``given`` holds
    the names that were on the command line."""

    def __init__(self, values: dict[str, Any], given: set[str]) -> None:
        self.__dict__.update(values)
        self.given = given

    def as_dict(self) -> dict[str, Any]:
        return {o.name: getattr(self, o.name) for o in OPTIONS}


def _lookup(raw: str) -> Option:
    opt = BY_KEY.get(_key(raw))
    if opt is None:
        close = difflib.get_close_matches(_key(raw), BY_KEY, n=1)
        hint = f" (did you mean --{BY_KEY[close[0]].name}?)" if close else ""
        raise UsageError(f"unknown option --{raw}{hint}")
    return opt


def parse(argv: list[str]) -> Options:
    values = {o.name: o.default for o in OPTIONS}
    given: set[str] = set()
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("--") or arg == "--":
            raise UsageError(f"unexpected argument {arg!r} (options look like --name=value)")
        body = arg[2:]
        name, eq, text = body.partition("=")
        opt = _lookup(name)
        if not eq:
            nxt = argv[i] if i < len(argv) else None
            if opt.kind == "bool":
                if nxt is not None and nxt.lower() in _TRUE | _FALSE:
                    text, i = nxt, i + 1
                else:
                    text = "true"
            elif nxt is None or (nxt.startswith("--") and opt.kind == "str"):
                raise UsageError(f"option --{opt.name} needs a value (--{opt.name}=VALUE)")
            else:
                text, i = nxt, i + 1
        try:
            values[opt.name] = opt.parse(text)
        except ValueError as e:
            raise UsageError(f"option --{opt.name}: {e}, got {text!r}") from None
        given.add(opt.name)
    return Options(values, given)


def _show_default(o: Option) -> str:
    if o.name == "trainingText":
        return "(built-in sample)"
    if o.kind == "bool":
        return "true" if o.default else "false"
    if o.default == "":
        return "(none)" if o.name != "seed" else "(random)"
    return str(o.default)


def help_text(command: str, usage: str) -> str:
    """The option table, grouped, with defaults."""
    lines = [f"usage: {usage}", "", "Options (any case; --hiddenSize=64 or --hidden-size 64):"]
    group = None
    width = max(len(o.name) for o in OPTIONS) + 2
    for o in OPTIONS:
        if o.group != group:
            group = o.group
            lines += ["", f"{group}:"]
        lines.append(f"  --{o.name:<{width}} {_show_default(o):<18} {o.help}")
    lines += ["", "Booleans accept true/false, 1/0, yes/no; a boolean alone means true."]
    return "\n".join(lines)


def run_command(command: str, usage: str, argv: list[str], body: Callable[[Options], int]) -> int:
    """Parse ``argv`` and run ``body``; every expected failure becomes one line
    on stderr (no traceback): status 2 for usage and input errors, 130 for
    Ctrl-C."""
    import sys

    from rnnpy.tokenizer import TokenizerError

    if any(a in ("-h", "--help") for a in argv):
        print(help_text(command, usage))
        return 0
    try:
        return body(parse(argv))
    except (UsageError, TokenizerError, ValueError, OSError) as e:
        print(f"rnnpy {command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nrnnpy {command}: interrupted", file=sys.stderr)
        return 130
