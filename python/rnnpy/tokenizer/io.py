"""The tokenizer JSON file (spec/TOKENIZER.md): read, check, write atomically.

rnnpy writes the old program's shape (pretty JSON, 2-space indent, vocab sorted
by id) plus one key of its own, ``rnnpyScheme``, which the old program ignores.
A file without that key uses the old ``latin1`` scheme.

Files are read only when they are regular files that fit in memory, and
parsed as strict JSON (no NaN or Infinity; nesting and number lengths that
Python cannot read are errors like any other malformed file).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rnnpy import _core
from rnnpy.tokenizer.errors import TokenizerError
from rnnpy.tokenizer.ids import BASE_OFFSET, FIRST_MERGE_ID, LATIN1, SCHEMES, SPECIAL_TOKENS

SCHEME_KEY = "rnnpyScheme"


@dataclass
class TokenizerData:
    vocab: list[str]  # id -> token string
    merges: list[tuple[int, int]]
    scheme: str
    target_vocab_size: int


def timestamp() -> str:
    """UTC time as the old program wrote it: 2026-02-10T17:07:54.123Z."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def to_json(data: TokenizerData, stamp: str | None = None) -> str:
    doc = {
        "version": "1.0",
        "type": "BPE",
        "timestamp": stamp if stamp is not None else timestamp(),
        "targetVocabSize": data.target_vocab_size,
        "vocabSize": len(data.vocab),
        "mergeCount": len(data.merges),
        "specialTokens": dict(SPECIAL_TOKENS),
        "merges": [[a, b] for a, b in data.merges],
        "vocab": [[i, s] for i, s in enumerate(data.vocab)],
        SCHEME_KEY: data.scheme,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def write_atomic(path: str | os.PathLike[str], content: str | bytes) -> None:
    """Write through the core's atomic writer (a temporary beside ``path``,
    read back, renamed over it; a new file gets the umask's mode), so a
    reader never sees half a file and a crash leaves the old one. Text is
    written as UTF-8 with ``\n`` line ends; bytes as they are. OSError names
    ``path``."""
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    _core.write_file_atomic(os.fspath(path), data)


def read_bytes(path: str | os.PathLike[str], what: str, per_byte: int = 1) -> bytes:
    """The bytes of a file the user named: a regular file (a FIFO would
    block, /dev/zero never end) small enough that reading it and using it
    (`per_byte` bytes of memory per byte of file) fits in memory."""
    try:
        size = _core.check_input_path(os.fspath(path))
    except OSError as e:
        raise TokenizerError(f"{path}: cannot read {what}: {str(e).split('cannot read: ', 1)[-1]}") from None
    available = _core.available_memory()
    if available is not None and size * (per_byte + 1) > available:
        raise TokenizerError(
            f"{path}: cannot read {what}: its {size:,} bytes need about {size * (per_byte + 1):,} bytes of memory, "
            f"but {available:,} are available"
        )
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise TokenizerError(f"{path}: cannot read {what} ({(e.strerror or str(e)).lower()})") from None


def loads(raw: bytes) -> object:
    """Strict JSON from bytes; ValueError says, in one sentence, why not."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 (invalid byte at offset {e.start})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise ValueError("not JSON rnnpy can read (nested too deeply)") from None
    except ValueError:  # an integer of more digits than Python converts
        raise ValueError("not JSON rnnpy can read (a number too long)") from None


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


def load(path: str | os.PathLike[str]) -> TokenizerData:
    raw = read_bytes(path, "tokenizer file", per_byte=20)
    try:
        doc = loads(raw)
    except ValueError as e:
        raise TokenizerError(f"{path}: not a JSON tokenizer file ({e})") from None
    try:
        return parse(doc)
    except TokenizerError as e:
        raise TokenizerError(f"{path}: {e}") from None


def parse(doc: object) -> TokenizerData:
    """Check a decoded file and build the tables; every rule the encoder relies on
    is verified here, so a foreign or hand-edited file fails loudly, not subtly."""
    if not isinstance(doc, dict) or doc.get("type") != "BPE" or "merges" not in doc or "vocab" not in doc:
        raise TokenizerError("not an rnn-rust BPE tokenizer file (needs type BPE, merges and vocab)")
    scheme = doc.get(SCHEME_KEY, LATIN1)
    if scheme not in SCHEMES:
        raise TokenizerError(f"unknown {SCHEME_KEY} {scheme!r} (expected one of {', '.join(SCHEMES)})")
    vocab_map: dict[int, str] = {}
    for entry in _list(doc["vocab"], "vocab"):
        if not (isinstance(entry, list) and len(entry) == 2 and _is_int(entry[0]) and isinstance(entry[1], str)):
            raise TokenizerError(f"vocab entry {entry!r} is not [id, string]")
        vocab_map[entry[0]] = entry[1]
    n = len(vocab_map)
    if sorted(vocab_map) != list(range(n)) or n < FIRST_MERGE_ID:
        raise TokenizerError(f"vocab ids must be 0..{n - 1} with at least {FIRST_MERGE_ID} entries")
    vocab = [vocab_map[i] for i in range(n)]
    for name, i in SPECIAL_TOKENS.items():
        if vocab[i] != name:
            raise TokenizerError(f"id {i} must be the special token {name}, not {vocab[i]!r}")
    for b in range(256):
        if vocab[BASE_OFFSET + b] != chr(b):
            raise TokenizerError(f"id {BASE_OFFSET + b} must be the base character U+{b:04X}")
    merges = []
    for rank, pair in enumerate(_list(doc["merges"], "merges")):
        new_id = FIRST_MERGE_ID + rank
        if not (isinstance(pair, list) and len(pair) == 2 and all(_is_int(x) for x in pair)):
            raise TokenizerError(f"merge {rank} {pair!r} is not a pair of ids")
        a, b = pair
        if not (0 <= a < new_id and 0 <= b < new_id) or new_id >= n:
            raise TokenizerError(f"merge {rank} {pair!r} uses an id not defined before it")
        if vocab[new_id] != vocab[a] + vocab[b]:
            raise TokenizerError(f"merge {rank}: id {new_id} is {vocab[new_id]!r}, not {vocab[a] + vocab[b]!r}")
        merges.append((a, b))
    if n != FIRST_MERGE_ID + len(merges):
        raise TokenizerError(f"{n} vocab entries but {len(merges)} merges (expected {FIRST_MERGE_ID} + merges)")
    target = doc.get("targetVocabSize", n)
    return TokenizerData(vocab, merges, scheme, target if _is_int(target) else n)


def _list(value: object, key: str) -> list[object]:
    if not isinstance(value, list):
        raise TokenizerError(f"{key!r} must be a list")
    return value


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
