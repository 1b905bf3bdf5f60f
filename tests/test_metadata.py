"""RunMetadata: the one reader and writer of checkpoint metadata. Every shape
earlier rnnpy versions wrote (tests/fixtures/metadata) and the old program's
(the golden checkpoints) is read, survives a round trip, and the commands
still work on checkpoints that carry it."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnnpy
from rnnpy.metadata import SCHEMA, EvalScore, RLRecord, RngState, RunMetadata

FIXTURES = Path(__file__).parent / "fixtures" / "metadata"
GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "golden"
ARCHITECTURE = {
    "hiddenSize": "hidden_size", "embedSize": "embed_size", "numLayers": "num_layers", "numHeads": "num_heads",
    "numExperts": "num_experts", "topK": "top_k", "fastMode": "fast_mode", "useRWKV": "use_rwkv",
}  # fmt: skip


def fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


def fixture(path: Path) -> tuple[int, dict]:
    doc = json.loads(path.read_text())
    return doc["vocab_size"], doc["metadata"]


@pytest.mark.parametrize("path", fixtures(), ids=lambda p: p.stem)
def test_every_earlier_shape_is_read(path):
    vocab_size, d = fixture(path)
    m = RunMetadata.from_dict(d)
    assert m.schema == 0 and m.epoch == d["epoch"] and m.loss == d["loss"]
    assert m.vocab is not None and m.vocab.size == vocab_size  # every rnnpy file carries its vocabulary
    assert m.completed is d.get("completed", False) and m.interrupted is d.get("interrupted", False)
    if "rnnpy" in d and "seed" in d["rnnpy"]:
        assert m.seed == d["rnnpy"]["seed"] and m.start == d["rnnpy"]["start"] and m.rng is not None
        assert m.options == d["rnnpy"]["options"]
    if "rl" in d:
        assert m.rl is not None and m.rl.task == d["rl"]["task"] and m.rl.after.exact == d["rl"]["after"]["exact"]


@pytest.mark.parametrize("path", [p for p in fixtures() if p.stem.startswith("81a7336")], ids=lambda p: p.stem)
def test_the_last_shape_round_trips_exactly(path):
    _, d = fixture(path)
    written = RunMetadata.from_dict(d).to_dict()
    assert written.pop("rnnpy").pop("schema") == SCHEMA
    assert written == {k: v for k, v in d.items() if k != "rnnpy"}
    assert RunMetadata.from_dict(RunMetadata.from_dict(d).to_dict()) == dataclasses.replace(
        RunMetadata.from_dict(d), schema=SCHEMA
    )


def test_older_shapes_are_written_in_the_current_one():
    _, d = fixture(FIXTURES / "2e17729-rl-on-old-program-checkpoint.json")
    written = RunMetadata.from_dict(d).to_dict()
    assert "vocab" not in written and written["rnnpy"]["vocab"] == {"type": "char", "chars": d["vocab"]}
    assert written["epoch"] == d["epoch"] and written["rl"] == d["rl"] and written["time"] == d["time"]
    _, d = fixture(FIXTURES / "d9544d2-train-completed.json")
    rng = RunMetadata.from_dict(d).to_dict()["rnnpy"]["rng"]
    assert rng == {**d["rnnpy"]["rng"], "has_uint32": "0", "uinteger": "0"}


@pytest.mark.skipif(not GOLDEN.is_dir(), reason="../shared/golden is not present")
@pytest.mark.parametrize("case", ["g1", "g2", "g6"])
def test_the_old_programs_metadata(case):
    ck = rnnpy.load_checkpoint(GOLDEN / case / "checkpoint.bin")
    m = RunMetadata.of(ck)
    assert m.completed and m.epoch == ck.metadata["epoch"] and m.loss == ck.metadata["loss"]
    assert m.vocab is None and m.seed is None and m.rng is None and m.options == {}
    written = m.to_dict()
    assert written.pop("rnnpy") == {"schema": SCHEMA}
    assert written == ck.metadata  # the keys the old program reads, unchanged


def test_round_trip_of_everything_and_unknown_keys_are_kept():
    tok = rnnpy.BPETokenizer.train("abc abd abe " * 20, vocab_size=265)
    rng = np.random.default_rng(3)
    rng.permutation(10)
    m = RunMetadata(
        epoch=7, loss=0.5, completed=True, time="1.5", interrupted=True, version="9.9", vocab=rnnpy.BPEVocab(tok),
        start="a", seed=4, rng=RngState.of(rng), options={"epochs": 7, "seed": "4"},
        rl=RLRecord(
            "copy", 3, 4, 5, 0.2, 0.0, 1, 0.002, 1, EvalScore(0.1, 0.2), EvalScore(0.3, 0.4), {"new": 1},
            temperature=0.7, general=(EvalScore(0.0, 0.1), EvalScore(0.05, 0.2)),
        ),
        extra={"future": [1, 2]}, rnnpy_extra={"later": True},
    )  # fmt: skip
    d = m.to_dict()
    assert d["future"] == [1, 2] and d["rnnpy"]["later"] is True and d["rl"]["new"] == 1
    back = RunMetadata.from_dict(json.loads(json.dumps(d)))
    assert isinstance(back.vocab, rnnpy.BPEVocab) and back.vocab.tokenizer.merges == tok.merges
    assert dataclasses.replace(back, vocab=m.vocab) == m


def test_rng_state_continues_the_sequence():
    a = np.random.Generator(np.random.PCG64(5))
    a.permutation(7)
    saved = json.loads(json.dumps(RngState.of(a).to_dict()))
    b = np.random.Generator(np.random.PCG64(0))
    RngState.from_dict(saved).restore(b)
    assert np.array_equal(a.permutation(100), b.permutation(100)) and a.random() == b.random()


@pytest.mark.parametrize(
    "d,key",
    [
        ({"epoch": "3"}, "epoch"),
        ({"epoch": -1}, "epoch"),
        ({"epoch": 1, "loss": "low"}, "loss"),
        ({"epoch": 1, "rnnpy": {"vocab": {"type": "words"}}}, "vocabulary type"),
        ({"epoch": 1, "rnnpy": {"vocab": {"type": "char", "chars": ["ab"]}}}, "rnnpy.vocab"),
        ({"epoch": 1, "rnnpy": {"vocab": {"type": "bpe", "tokenizer": {}}}}, "bad tokenizer"),
        ({"epoch": 1, "rnnpy": {"rng": {"state": "x"}}}, "rnnpy.rng"),
        ({"epoch": 1, "rnnpy": {"seed": -2}}, "rnnpy.seed"),
        ({"epoch": 1, "rl": {"task": "copy"}}, "rl"),
        ({"epoch": 1, "rnnpy": []}, "rnnpy"),
    ],
)
def test_what_does_not_fit_is_a_metadata_error_naming_the_key(d, key):
    with pytest.raises(rnnpy.MetadataError, match=key) as e:
        RunMetadata.from_dict(d)
    assert isinstance(e.value, rnnpy.CheckpointError) and isinstance(e.value, ValueError)


def _checkpoint(path: Path, vocab_size: int, meta: dict) -> Path:
    """A checkpoint carrying `meta`, its model shaped by the options recorded (or g2's, for old-program files)."""
    options = meta.get("rnnpy", {}).get("options")
    if options is None:
        ck = rnnpy.load_checkpoint(GOLDEN / "g2" / "checkpoint.bin")
        model = ck.model
    else:
        cfg = {field: options[name] for name, field in ARCHITECTURE.items()}
        model = rnnpy.Model(rnnpy.ModelConfig(vocab_size=vocab_size, **cfg), seed=0)
    rnnpy.save_checkpoint(path, model, metadata=meta)
    return path


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "rnnpy", *args], cwd=cwd, capture_output=True, check=False, timeout=120)
    out = subprocess.CompletedProcess(p.args, p.returncode, p.stdout.decode(), p.stderr.decode())
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    return out


@pytest.mark.skipif(not GOLDEN.is_dir(), reason="../shared/golden is not present")
@pytest.mark.parametrize("path", fixtures(), ids=lambda p: p.stem)
def test_commands_work_on_checkpoints_earlier_versions_wrote(path, tmp_path):
    vocab_size, meta = fixture(path)
    ck = _checkpoint(tmp_path / "old.bin", vocab_size, meta)
    vocab = RunMetadata.from_dict(meta).vocab
    assert vocab is not None
    prompt = [] if "start" in meta.get("rnnpy", {}) else [f"--prompt={vocab.token(vocab.size - 1)}"]
    g = run(tmp_path, "generate", f"--loadCheckpoint={ck}", "--genLength=5", "--temperature=0", "--quiet", *prompt)
    assert len(g.stdout) > 5
    if isinstance(vocab, rnnpy.CharVocab) and "\n" in vocab and ":" in vocab:  # the copy-task models
        text = "".join(vocab.chars) * 20
        run(tmp_path, "train", f"--loadCheckpoint={ck}", f"--trainingText={text}", f"--epochs={meta['epoch'] + 1}",
            "--genLength=0", "--savePath=resumed.bin")  # fmt: skip
        resumed = RunMetadata.of(rnnpy.load_checkpoint(tmp_path / "resumed.bin"))
        assert resumed.epoch == meta["epoch"] + 1 and resumed.vocab == vocab and resumed.schema == SCHEMA
        run(tmp_path, "rl", f"--loadCheckpoint={ck}", "--savePath=rl.bin", "--rlEpisodes=1", "--rlPrompts=2",
            "--rlGroupSize=2", "--rlEvalPrompts=3", "--quiet")  # fmt: skip
        after = RunMetadata.of(rnnpy.load_checkpoint(tmp_path / "rl.bin"))
        assert after.rl is not None and after.rl.episodes == 1 and after.vocab == vocab and after.epoch == meta["epoch"]
