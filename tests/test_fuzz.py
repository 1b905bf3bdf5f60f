"""The fuzzers (issues 15 and 16): mutated checkpoints, checkpoint metadata,
tokenizer files and command lines, as a hostile user or file would give
them. The property is always the same: a clean rnnpy error or a success —
never a traceback, a panic, an abort, a hang, or a lost file.

Each campaign runs twice: a short pass in the suite, and a long one by
command (docs/robustness.md):

    python -m pytest -m fuzz tests/test_fuzz.py --hypothesis-seed=0 --hypothesis-show-statistics
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import rnnpy
from conftest import GOLDEN
from rnnpy.cli import main
from rnnpy.cli.options import OPTIONS

SHORT = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
#: The long pass's tries per campaign (docs/robustness.md): RNNPY_FUZZ_EXAMPLES=20000 for a night.
LONG = settings(
    max_examples=int(os.environ.get("RNNPY_FUZZ_EXAMPLES", "2500")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
#: What loading a hostile file may raise: rnnpy's own errors, each naming what did not fit.
CLEAN = (rnnpy.RnnpyError, OSError)


def campaign(check: Callable[..., None], *strategies: st.SearchStrategy) -> tuple[Callable, Callable]:
    """The short pass (in the suite) and the long one (`-m fuzz`) of one property."""
    return SHORT(given(*strategies)(check)), pytest.mark.fuzz(LONG(given(*strategies)(check)))


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def cli(cwd: Path, *argv: str) -> tuple[int, str]:
    """`main(argv)` in process, in `cwd`: its status and stderr."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(list(argv))
    finally:
        os.chdir(here)
    return status, err.getvalue()


def assert_clean_cli(status: int, err: str) -> None:
    assert status in (0, 2), (status, err)
    event("success" if status == 0 else "clean error")  # the outcome counts of --hypothesis-show-statistics
    if status == 2:
        lines = [ln for ln in err.splitlines() if ln and not ln.startswith("warning:")]
        assert len(lines) == 1 and "Traceback" not in err and "rnnpy-tmp" not in err, err


# -- checkpoints ------------------------------------------------------------------------


def small_checkpoint() -> bytes:
    cfg = rnnpy.ModelConfig(vocab_size=6, embed_size=4, hidden_size=4, num_heads=2, num_experts=2)
    model = rnnpy.Model(cfg, seed=0)
    vocab = rnnpy.CharVocab("abcde ")
    meta = rnnpy.RunMetadata(epoch=3, loss=1.5, vocab=vocab, start="a", seed=1).to_dict()
    with scratch() as d:
        rnnpy.save_checkpoint(d / "m.bin", model, rnnpy.Trainer(model), meta)
        return (d / "m.bin").read_bytes()


SEEDS = [small_checkpoint()] + [(p / "checkpoint.bin").read_bytes() for p in sorted(GOLDEN.glob("g*"))][:1]
#: Values that break length fields and sizes: zero, one, powers of two around 32 and 64 bits, all ones.
WORDS = [0, 1, 2, 7, 255, 2**16, 2**31 - 1, 2**31, 2**32, 2**48, 2**63 - 1, 2**63, 2**64 - 1]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes] = SEEDS) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        head = draw(st.booleans())  # the header (lengths, the configuration) is where sizes live
        pos = draw(st.integers(0, min(len(data), 260) - 1 if head else len(data) - 1))
        op = draw(st.sampled_from(["word", "byte", "cut", "insert", "delete"]))
        if op == "word":
            data[pos : pos + 8] = struct.pack("<Q", draw(st.sampled_from(WORDS)))
        elif op == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[pos : pos + draw(st.integers(1, 64))]
        if not data:
            break
    return bytes(data)


def check_checkpoint(data: bytes) -> None:
    with scratch() as d:
        (d / "m.bin").write_bytes(data)
        try:
            ck = rnnpy.load_checkpoint(d / "m.bin")
        except CLEAN:
            ck = None
        if ck is not None:
            with contextlib.suppress(rnnpy.MetadataError):
                rnnpy.RunMetadata.of(ck)
            assert len(ck.model.generate([0], 3, temperature=0.0)) == 3
        status, err = cli(d, "generate", "--loadCheckpoint=m.bin", "--genLength=3", "--trainingText=abcde abcde")
        assert_clean_cli(status, err)
        assert_clean_cli(*cli(d, "info", "m.bin"))
        assert (d / "m.bin").read_bytes() == data  # reading never changes the file


test_mutated_checkpoints, test_mutated_checkpoints_long = campaign(check_checkpoint, mutated())


# -- checkpoint metadata ------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(2**64), 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4), max_leaves=20)  # fmt: skip
KEYS = ["epoch", "loss", "completed", "time", "interrupted", "rl", "rnnpy", "vocab"]
OURS = ["schema", "version", "vocab", "start", "seed", "rng", "options", "position", "stream", "val", "last_loss"]
metadata = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            **dict.fromkeys(KEYS[:6], json_values),
            "rnnpy": st.fixed_dictionaries({}, optional=dict.fromkeys(OURS, json_values)),
            "vocab": json_values,
        },
    ),
    st.builds(lambda depth: {"rnnpy": nested(depth)}, st.integers(100, 3000)),
)


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def check_metadata(meta: object) -> None:
    model = rnnpy.Model(rnnpy.ModelConfig(vocab_size=6, embed_size=4, hidden_size=4, num_heads=2), seed=0)
    with scratch() as d:
        try:
            rnnpy.save_checkpoint(d / "m.bin", model, metadata=meta)  # type: ignore[arg-type]
        except rnnpy.CheckpointError:  # MetadataError, or JSON nested beyond what a reader takes
            assert not (d / "m.bin").exists()  # nothing written that could not be read back
            return
        ck = rnnpy.load_checkpoint(d / "m.bin")  # what was written can be read
        with contextlib.suppress(rnnpy.MetadataError):
            rnnpy.RunMetadata.of(ck)
        status, err = cli(d, "generate", "--loadCheckpoint=m.bin", "--genLength=2", "--trainingText=abcde ab")
        assert_clean_cli(status, err)
        assert_clean_cli(*cli(d, "info", "m.bin"))


test_checkpoint_metadata, test_checkpoint_metadata_long = campaign(check_metadata, metadata)


# -- tokenizer files ------------------------------------------------------------------------

TOKENIZER = json.loads((GOLDEN / "g6" / "tokenizer.json").read_text()) if (GOLDEN / "g6").exists() else None


@st.composite
def tokenizer_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["subtree", "bytes", "nested", "digits"]))
    if kind == "nested":
        depth = draw(st.integers(500, 20000))
        return b'{"type": "BPE", "merges": ' + b"[" * depth + b"]" * depth + b', "vocab": []}'
    if kind == "digits":
        return b'{"type": "BPE", "merges": [], "vocab": [[' + b"9" * draw(st.integers(4000, 20000)) + b', "a"]]}'
    if TOKENIZER is None:
        pytest.skip("needs ../shared/golden/g6")
    doc = json.loads(json.dumps(TOKENIZER))
    if kind == "bytes":
        return draw(mutated([json.dumps(doc).encode()]))
    # Walk to a random subtree, then replace it: `parent[key]` is the subtree
    # (an empty container reached on the way is replaced itself).
    node, parent, key = doc, None, None
    for _ in range(draw(st.integers(1, 4))):
        keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not keys:
            break
        parent, key = node, draw(st.sampled_from(keys))
        if isinstance(node[key], (dict, list)) and draw(st.booleans()):
            node = node[key]
        else:
            break
    if parent is not None:
        parent[key] = draw(json_values)
    return json.dumps(doc, allow_nan=True).encode()


def check_tokenizer(data: bytes) -> None:
    with scratch() as d:
        (d / "t.json").write_bytes(data)
        try:
            tok = rnnpy.BPETokenizer.load(d / "t.json")
        except rnnpy.TokenizerError:
            tok = None
        if tok is not None:
            tok.decode(tok.encode("hello world"))
        assert_clean_cli(*cli(d, "tokenizer", "encode", "--tokenizer=t.json", "--text=hello"))


test_tokenizer_files, test_tokenizer_files_long = campaign(check_tokenizer, tokenizer_files())


# -- command lines --------------------------------------------------------------------------

NASTY = ["", "0", "1", "-1", "2", "3.5", "nan", "inf", "-inf", "1e400", "yes", "maybe", str(2**63), str(2**64),
         "9" * 30, "\udc80", "missing.txt", "folder", "file.txt", "fifo", "garbage.bin", "file.txt/x.bin", "/dev/zero"]  # fmt: skip
#: Options whose large values are long but valid work: kept small.
WORK = {"epochs", "genLength", "rlEpisodes", "n", "rlEvalPrompts", "rlPrompts", "rlGroupSize", "rlMaxLen",
        "hiddenSize", "embedSize", "numLayers", "numExperts", "bpeVocabSize", "seqLength", "batchSize"}  # fmt: skip
COMMANDS = ["train", "generate", "eval", "rl", "tasks", "tokenizer train", "tokenizer encode", "tokenizer decode",
            "info", "plot", "export", "import", "frob"]  # fmt: skip
#: The files given to the commands that take paths (`plot` reads a FIFO or /dev/zero as the pipe it is: not those).
PATHS = {"info": ["garbage.bin", "file.txt", "folder", "missing.txt", "fifo", "/dev/zero"],
         "plot": ["garbage.bin", "file.txt", "folder", "missing.txt"]}  # fmt: skip
PATHS["export"] = PATHS["import"] = PATHS["info"]


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    argv = draw(st.sampled_from(COMMANDS)).split()
    if argv[0] in PATHS and draw(st.integers(0, 9)):
        argv.append(draw(st.sampled_from(PATHS[argv[0]])))
    names = [o.name for o in OPTIONS] + ["nosuchOption", "hidden-size", "EPOCHS", "rl_task"]
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from(names))
        if name in WORK:
            value = draw(st.sampled_from(["0", "1", "2", "-5", "abc", "1.5", str(2**64), "1000000000000000"]))
        else:
            value = draw(st.sampled_from(NASTY))
        argv.append(draw(st.sampled_from([f"--{name}={value}", f"--{name}"])))
    if argv[0] in ("train", "generate") and not any(a.startswith("--epochs") for a in argv):
        argv.append("--epochs=1")
    return argv + ["--genLength=2", "--hiddenSize=4", "--embedSize=4", "--numHeads=2"] if argv[0] == "train" else argv


def check_command_line(argv: list[str]) -> None:
    with scratch() as d:
        (d / "folder").mkdir()
        (d / "file.txt").write_text("hello world, a small text to train on. " * 3)
        (d / "garbage.bin").write_bytes(b"\x07\0 not a checkpoint")
        os.mkfifo(d / "fifo")
        status, err = cli(d, *argv)
        assert_clean_cli(status, err)
        assert (d / "file.txt").read_text().startswith("hello") and (d / "fifo").exists()


test_command_lines, test_command_lines_long = campaign(check_command_line, command_lines())


def test_the_short_passes_run_in_the_suite_and_the_long_ones_by_marker():
    short = [test_mutated_checkpoints, test_checkpoint_metadata, test_tokenizer_files, test_command_lines]
    long = [test_mutated_checkpoints_long, test_checkpoint_metadata_long, test_tokenizer_files_long]
    assert all(not hasattr(t, "pytestmark") for t in short)
    assert all(m.name == "fuzz" for t in [*long, test_command_lines_long] for m in t.pytestmark)
