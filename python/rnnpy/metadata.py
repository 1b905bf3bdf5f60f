"""What a checkpoint records about its run: the one metadata type, read and
written here and nowhere else.

The JSON keeps the old program's keys at the top (``epoch``, ``loss``,
``completed``, ``time``; it resumes from ``epoch``), rnnpy's run record
``rl`` and ``interrupted`` beside them, and everything else under ``rnnpy``::

    {"epoch": 500, "loss": 0.0012, "completed": true, "time": "45.3",
     "rl": {...},
     "rnnpy": {"schema": 1, "version": "0.1.0", "vocab": {...}, "start": "h",
               "seed": 1, "rng": {...}, "options": {...}, "last_loss": 0.0015,
               "position": {...}, "stream": "base64...", "val": {...}}}

``position`` is where in its epoch the run was (``rnnpy.progress.Position``:
the batch, training seconds, the best validation loss and the evaluations
since) and ``rng`` the batch RNG at that epoch's start; ``stream`` the
recurrent state stateful batching carries in mid-epoch (float32, base64);
``val`` the last held-out score.

``RunMetadata.from_dict`` reads every shape earlier writers produced: the
old program's (no ``rnnpy`` key), rnnpy 0.1.0's (no ``schema``), its first
``rl`` command's (a character list at the top-level ``vocab``) and its first
RNG record (``state`` and ``inc`` only). Keys it does not know are kept, so
rewriting a file written by a newer rnnpy loses nothing. ``to_dict`` writes
the current shape (schema ``SCHEMA``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from rnnpy.errors import MetadataError, TokenizerError, VocabularyError
from rnnpy.evaluation import Score
from rnnpy.progress import Position
from rnnpy.tokenizer import BPETokenizer
from rnnpy.tokenizer import io as tokenizer_io
from rnnpy.vocab import BPEVocab, CharVocab, Vocab

if TYPE_CHECKING:
    from rnnpy.checkpoint import Checkpoint

#: The shape `to_dict` writes; files without `rnnpy.schema` are schema 0 (rnnpy 0.1.0 and the old program).
SCHEMA = 1

_TOP = ("epoch", "loss", "completed", "time", "interrupted", "rl", "rnnpy")
_OURS = ("schema", "version", "vocab", "start", "seed", "rng", "options", "last_loss", "position", "stream", "val")


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: object) -> bool:
    return _is_int(x) or isinstance(x, float)


@dataclass(frozen=True)
class RngState:
    """A numpy PCG64 generator's state: 128-bit integers, stored as strings."""

    state: int
    inc: int
    has_uint32: int = 0
    uinteger: int = 0

    @classmethod
    def of(cls, rng: np.random.Generator) -> RngState:
        return cls.of_bits(rng.bit_generator.state)

    @classmethod
    def of_bits(cls, bits: Mapping[str, Any]) -> RngState:
        """From a PCG64 ``bit_generator.state`` dictionary."""
        return cls(
            int(bits["state"]["state"]), int(bits["state"]["inc"]), int(bits["has_uint32"]), int(bits["uinteger"])
        )

    def restore(self, rng: np.random.Generator) -> None:
        """Continues `rng` (a PCG64 generator) from this state."""
        bits = dict(rng.bit_generator.state)
        bits["state"] = {"state": self.state, "inc": self.inc}
        bits["has_uint32"], bits["uinteger"] = self.has_uint32, self.uinteger
        rng.bit_generator.state = bits

    def to_dict(self) -> dict[str, str]:
        return {k: str(getattr(self, k)) for k in ("state", "inc", "has_uint32", "uinteger")}

    @classmethod
    def from_dict(cls, d: object) -> RngState:
        """Also reads rnnpy's first record, which held only `state` and `inc`."""
        try:
            assert isinstance(d, Mapping)
            return cls(int(d["state"]), int(d["inc"]), int(d.get("has_uint32", 0)), int(d.get("uinteger", 0)))
        except (AssertionError, KeyError, TypeError, ValueError):
            raise MetadataError(f"rnnpy.rng {d!r} is not a PCG64 state") from None


@dataclass(frozen=True)
class EvalScore:
    """A greedy held-out evaluation: share of exact answers and mean reward."""

    exact: float
    mean_reward: float


@dataclass(frozen=True)
class RLRecord:
    """One RL (GRPO) run on the checkpoint's model: its settings and the
    evaluations before and after (held-out; `general`: beyond the trained range).
    Records written before `temperature` and `general` existed have neither (τ was 1).
    A run stopped by Ctrl-C is `interrupted`, with the episodes it completed
    and no evaluation after (nor before, when stopped during it)."""

    task: str
    episodes: int
    group_size: int
    prompts_per_episode: int
    clip: float
    kl: float
    inner_steps: int
    learning_rate: float
    seed: int
    before: EvalScore | None
    after: EvalScore | None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # added later, so after `extra` (positional construction keeps working)
    temperature: float | None = None  # the sampling (and log-prob) temperature
    general: tuple[EvalScore, EvalScore] | None = None  # (before, after)
    interrupted: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self.extra)
        for name in _RL_FIELDS:
            d[name] = getattr(self, name)
        for key, s in (("before", self.before), ("after", self.after)):
            if s is not None:
                d[key] = _score(s)
        if self.temperature is not None:
            d["temperature"] = self.temperature
        if self.general is not None:
            d["general"] = {"before": _score(self.general[0]), "after": _score(self.general[1])}
        if self.interrupted:
            d["interrupted"] = True
        return d

    @classmethod
    def from_dict(cls, d: object) -> RLRecord:
        try:
            assert isinstance(d, Mapping)
            interrupted = d.get("interrupted") is True
            before, after = (None if interrupted and k not in d else _read_score(d[k]) for k in ("before", "after"))
            known = {name: d[name] for name in _RL_FIELDS}
            temperature = None if d.get("temperature") is None else float(d["temperature"])
            g = d.get("general")
            general = None if g is None else (_read_score(g["before"]), _read_score(g["after"]))
        except (AssertionError, KeyError, TypeError, ValueError):
            raise MetadataError(f"rl {d!r} is not an RL record") from None
        extra = {k: v for k, v in d.items() if k not in known and k not in _RL_SCORES}
        return cls(
            **known,
            before=before,
            after=after,
            temperature=temperature,
            general=general,
            extra=extra,
            interrupted=interrupted,
        )


def _score(s: EvalScore) -> dict[str, float]:
    return {"exact": s.exact, "mean_reward": s.mean_reward}


def _read_score(d: Any) -> EvalScore:
    return EvalScore(float(d["exact"]), float(d["mean_reward"]))


_RL_FIELDS = (
    "task", "episodes", "group_size", "prompts_per_episode", "clip", "kl", "inner_steps", "learning_rate", "seed"
)  # fmt: skip
_RL_SCORES = ("before", "after", "temperature", "general", "interrupted")


@dataclass(frozen=True)
class ValRecord:
    """A held-out score and the optimizer step it was measured at."""

    step: int
    score: Score

    def to_dict(self) -> dict[str, Any]:
        s = self.score
        return {
            "step": self.step,
            "loss": s.loss,
            "tokens": s.tokens,
            "chars": s.chars,
            "bits_per_char": s.bits_per_char,
        }

    @classmethod
    def from_dict(cls, d: object) -> ValRecord:
        try:
            assert isinstance(d, Mapping)
            step, loss, tokens, chars = d["step"], d["loss"], d["tokens"], d["chars"]
            assert _is_int(step) and _is_number(loss) and _is_int(tokens) and _is_int(chars)
        except (AssertionError, KeyError, TypeError):
            raise MetadataError(f"rnnpy.val {d!r} is not a validation score") from None
        return cls(step, Score(float(loss), tokens, chars))


def position_to_dict(p: Position) -> dict[str, Any]:
    """The loop's position but the epoch (the old program's key), the RNG and the stream (their own keys)."""
    d: dict[str, Any] = {"batch": p.batch, "seconds": p.seconds, "stale": p.stale}
    for name in ("best_val", "best_step", "last_eval_step"):
        if getattr(p, name) is not None:
            d[name] = getattr(p, name)
    return d


def position_from_dict(d: object, epoch: int) -> Position:
    try:
        assert isinstance(d, Mapping)
        batch, seconds, stale = d.get("batch", 0), d.get("seconds", 0.0), d.get("stale", 0)
        best_val, best_step, last = d.get("best_val"), d.get("best_step"), d.get("last_eval_step")
        assert _is_int(batch) and batch >= 0 and _is_number(seconds) and _is_int(stale)
        assert best_val is None or _is_number(best_val)
        assert all(v is None or _is_int(v) for v in (best_step, last))
    except AssertionError:
        raise MetadataError(f"rnnpy.position {d!r} is not a training position") from None
    best = None if best_val is None else float(best_val)
    return Position(epoch, batch, float(seconds), None, None, best, best_step, stale, last)


def stream_to_text(values: npt.NDArray[np.float32]) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f4").tobytes()).decode("ascii")


def stream_from_text(text: object) -> npt.NDArray[np.float32]:
    try:
        assert isinstance(text, str)
        raw = base64.b64decode(text, validate=True)
        assert len(raw) % 4 == 0
    except (AssertionError, ValueError):
        raise MetadataError("rnnpy.stream is not a base64 float32 array") from None
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def vocab_to_dict(vocab: Vocab) -> dict[str, Any]:
    if isinstance(vocab, CharVocab):
        return {"type": "char", "chars": list(vocab.chars)}
    return {"type": "bpe", "tokenizer": json.loads(vocab.tokenizer.to_json(timestamp=""))}


def vocab_from_dict(entry: object) -> Vocab:
    if isinstance(entry, Mapping) and entry.get("type") == "char":
        try:
            return CharVocab(list(entry["chars"]))
        except (KeyError, TypeError, VocabularyError) as e:
            raise MetadataError(f"rnnpy.vocab: bad character vocabulary ({e})") from None
    if isinstance(entry, Mapping) and entry.get("type") == "bpe":
        try:
            return BPEVocab(BPETokenizer(tokenizer_io.parse(entry.get("tokenizer"))))
        except TokenizerError as e:
            raise MetadataError(f"rnnpy.vocab: bad tokenizer: {e}") from None
    kind = entry.get("type") if isinstance(entry, Mapping) else entry
    raise MetadataError(f"rnnpy.vocab has an unknown vocabulary type {kind!r}")


def _legacy_vocab(v: object) -> CharVocab | None:
    """rnnpy's first `rl` command stored a character list (or string) at the top-level `vocab`."""
    if isinstance(v, str) or (isinstance(v, list) and all(isinstance(c, str) for c in v)):
        try:
            return CharVocab(list(v))
        except VocabularyError:
            return None
    return None


@dataclass(frozen=True)
class RunMetadata:
    """Everything rnnpy records about a run next to the weights."""

    # -- the old program's keys (it resumes from `epoch`) --------------------
    epoch: int = 0
    loss: float | None = None  # at the end of training: the best epoch's loss
    completed: bool = False
    time: str | None = None  # training seconds, as "45.3"
    # -- rnnpy's, at the top level ---------------------------------------------
    interrupted: bool = False  # saved by Ctrl-C after the last completed epoch
    rl: RLRecord | None = None  # the last RL run on this model
    # -- rnnpy's, under "rnnpy" --------------------------------------------------
    version: str | None = None  # rnnpy's version that trained the model
    vocab: Vocab | None = None  # None: an old program's checkpoint (its text rebuilds it)
    start: str | None = None  # the first character of the training text (generation's default prompt)
    seed: int | None = None
    rng: RngState | None = None  # the shuffling generator after the last completed epoch
    options: Mapping[str, Any] = field(default_factory=dict)  # the command line, by option name
    last_loss: float | None = None  # the last epoch's loss (`loss` is the best one once training completed)
    position: Position | None = None  # where in its epoch the run was (None: at the start of `epoch`)
    stream: npt.NDArray[np.float32] | None = field(default=None, compare=False)  # stateful batching's state
    val: ValRecord | None = None  # the last held-out score
    schema: int = SCHEMA  # the shape this was read from
    extra: Mapping[str, Any] = field(default_factory=dict)  # top-level keys this version does not know
    rnnpy_extra: Mapping[str, Any] = field(default_factory=dict)  # the same under "rnnpy"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self.extra)
        d["epoch"] = self.epoch
        if self.loss is not None:
            d["loss"] = self.loss
        if self.completed:
            d["completed"] = True
        if self.time is not None:
            d["time"] = self.time
        if self.interrupted:
            d["interrupted"] = True
        if self.rl is not None:
            d["rl"] = self.rl.to_dict()
        ours: dict[str, Any] = dict(self.rnnpy_extra)
        ours["schema"] = SCHEMA
        for name, value in (
            ("version", self.version), ("start", self.start), ("seed", self.seed), ("last_loss", self.last_loss)
        ):  # fmt: skip
            if value is not None:
                ours[name] = value
        if self.vocab is not None:
            ours["vocab"] = vocab_to_dict(self.vocab)
        if self.rng is not None:
            ours["rng"] = self.rng.to_dict()
        if self.options:
            ours["options"] = dict(self.options)
        if self.position is not None:
            ours["position"] = position_to_dict(self.position)
        if self.stream is not None:
            ours["stream"] = stream_to_text(self.stream)
        if self.val is not None:
            ours["val"] = self.val.to_dict()
        d["rnnpy"] = ours
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> RunMetadata:
        """Reads any metadata rnnpy or the old program wrote; MetadataError
        names the key whose value does not fit."""
        if d is None:
            return cls(schema=0)
        if not isinstance(d, Mapping):
            raise MetadataError(f"metadata {d!r} is not a JSON object")
        epoch = d.get("epoch", 0)
        if not _is_int(epoch) or epoch < 0:
            raise MetadataError(f"metadata epoch {epoch!r} is not an epoch number")
        loss = d.get("loss")
        if loss is not None and not _is_number(loss):
            raise MetadataError(f"metadata loss {loss!r} is not a number")
        time = d.get("time")
        ours = d.get("rnnpy", {})
        if not isinstance(ours, Mapping):
            raise MetadataError(f"metadata rnnpy {ours!r} is not a JSON object")
        extra = {k: v for k, v in d.items() if k not in _TOP}
        vocab = vocab_from_dict(ours["vocab"]) if "vocab" in ours else _legacy_vocab(extra.get("vocab"))
        if "vocab" not in ours and vocab is not None:
            del extra["vocab"]  # read into `vocab`; written back under "rnnpy"
        seed, start, options = ours.get("seed"), ours.get("start"), ours.get("options", {})
        last_loss = ours.get("last_loss")
        if last_loss is not None and not _is_number(last_loss):
            raise MetadataError(f"rnnpy.last_loss {last_loss!r} is not a number")
        if seed is not None and (not _is_int(seed) or seed < 0):
            raise MetadataError(f"rnnpy.seed {seed!r} is not a seed")
        if start is not None and not (isinstance(start, str) and start):
            raise MetadataError(f"rnnpy.start {start!r} is not a prompt")
        if not isinstance(options, Mapping):
            raise MetadataError(f"rnnpy.options {options!r} is not a JSON object")
        schema = ours.get("schema", 0)
        if not _is_int(schema):
            raise MetadataError(f"rnnpy.schema {schema!r} is not a schema number")
        return cls(
            epoch=epoch,
            loss=None if loss is None else float(loss),
            completed=d.get("completed") is True,
            time=None if time is None else str(time),
            interrupted=d.get("interrupted") is True,
            rl=RLRecord.from_dict(d["rl"]) if "rl" in d else None,
            version=None if ours.get("version") is None else str(ours["version"]),
            vocab=vocab,
            start=start,
            seed=seed,
            rng=RngState.from_dict(ours["rng"]) if "rng" in ours else None,
            options=dict(options),
            last_loss=None if last_loss is None else float(last_loss),
            position=position_from_dict(ours["position"], epoch) if "position" in ours else None,
            stream=stream_from_text(ours["stream"]) if "stream" in ours else None,
            val=ValRecord.from_dict(ours["val"]) if "val" in ours else None,
            schema=schema,
            extra=extra,
            rnnpy_extra={k: v for k, v in ours.items() if k not in _OURS},
        )

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> RunMetadata:
        """A loaded checkpoint's metadata; errors name the file."""
        try:
            return cls.from_dict(checkpoint.metadata)
        except MetadataError as e:
            raise MetadataError(f"checkpoint '{checkpoint.path}': {e}") from None
