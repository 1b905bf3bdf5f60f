"""`python -m rnnpy generate` from rnnpy checkpoints alone, and BPE in `train`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import rnnpy
from rnnpy.tokenizer import BPETokenizer

TEXT = "the quick brown fox jumps over the lazy dog. " * 4


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    raw = subprocess.run([sys.executable, "-m", "rnnpy", *args], cwd=cwd, capture_output=True, check=False, timeout=60)
    # Decode without newline translation: generated text may contain '\r'.
    p = subprocess.CompletedProcess(raw.args, raw.returncode, raw.stdout.decode(), raw.stderr.decode())
    assert "Traceback" not in p.stderr
    return p


@pytest.fixture(scope="module")
def char_ckpt(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("char")
    p = run(d, "train", f"--trainingText={TEXT}", "--epochs=20", "--genLength=0", "--savePath=m.bin", "--seed=5")
    assert p.returncode == 0, p.stderr
    return d / "m.bin"


def test_generate_needs_only_the_checkpoint(char_ckpt, tmp_path):
    p = run(tmp_path, "generate", f"--loadCheckpoint={char_ckpt}", "--genLength=30", "--seed=1", "--quiet")
    assert p.returncode == 0, p.stderr
    text = p.stdout[:-1]  # --quiet: just the text and a newline
    assert p.stdout.endswith("\n") and text.startswith("t") and len(text) == 31  # first char + 30 tokens
    assert set(text) <= set(TEXT)


def test_prompt_is_fed_once_then_sampling_follows(char_ckpt, tmp_path):
    p = run(tmp_path, "generate", f"--loadCheckpoint={char_ckpt}", "--prompt=the qu", "--temperature=0",
            "--genLength=25", "--quiet")  # fmt: skip
    ck = rnnpy.load_checkpoint(char_ckpt)
    chars = sorted(set(TEXT))
    ids = ck.model.generate([chars.index(c) for c in "the qu"], 25, 0.0, 0)
    assert p.stdout[:-1] == "the qu" + "".join(chars[i] for i in ids)


def test_same_seed_same_sample_and_temperature_matters(char_ckpt, tmp_path):
    args = ["generate", f"--loadCheckpoint={char_ckpt}", "--genLength=60", "--temperature=1.5", "--quiet"]
    a, b, c = run(tmp_path, *args, "--seed=9"), run(tmp_path, *args, "--seed=9"), run(tmp_path, *args, "--seed=10")
    assert a.stdout == b.stdout != c.stdout


def test_framed_output_like_the_old_program(char_ckpt, tmp_path):
    p = run(tmp_path, "generate", f"--loadCheckpoint={char_ckpt}", "--genLength=10", "--temperature=0.5")
    lines = p.stdout.split("\n")
    assert lines[:3] == ["Temperature: 0.5", "Generated (10 tokens):", "-" * 70]
    assert lines[4] == "-" * 70 and len(lines[3]) == 11


def test_prompt_outside_the_vocabulary(char_ckpt, tmp_path):
    p = run(tmp_path, "generate", f"--loadCheckpoint={char_ckpt}", "--prompt=XYZ")
    assert p.returncode == 2 and "outside the model's vocabulary" in p.stderr


def test_resume_with_a_text_outside_the_stored_vocabulary(char_ckpt, tmp_path):
    p = run(tmp_path, "train", f"--loadCheckpoint={char_ckpt}", "--trainingText=QQQQ" * 20, "--epochs=21")
    assert p.returncode == 2 and "outside the model's vocabulary" in p.stderr


def test_use_bpe_trains_a_tokenizer_and_embeds_it(tmp_path):
    corpus = TEXT * 3
    p = run(tmp_path, "train", "--useBPE=true", f"--trainingText={corpus}", "--bpeVocabSize=280",
            "--bpeSavePath=tok.json", "--seqLength=8", "--epochs=2", "--genLength=5", "--savePath=b.bin", "--seed=3")  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "Saved BPE tokenizer to tok.json" in p.stdout and "Tokenizer: BPE (vocab=280)" in p.stdout
    tok = BPETokenizer.load(tmp_path / "tok.json")
    ck = rnnpy.load_checkpoint(tmp_path / "b.bin")
    assert ck.config.vocab_size == tok.vocab_size == 280
    assert ck.metadata["rnnpy"]["vocab"]["type"] == "bpe"
    (tmp_path / "tok.json").unlink()  # generation must not need it
    g = run(tmp_path, "generate", "--loadCheckpoint=b.bin", "--genLength=12", "--temperature=0", "--quiet")
    assert g.returncode == 0, g.stderr
    ids = ck.model.generate(tok.encode("t"), 12, 0.0, 0)
    assert g.stdout[:-1] == "t" + tok.decode(ids)


def test_use_bpe_with_a_tokenizer_file(tmp_path):
    BPETokenizer.train(TEXT, vocab_size=270).save(tmp_path / "t.json")
    p = run(tmp_path, "train", "--useBPE", "--bpeLoadPath=t.json", f"--trainingText={TEXT}", "--seqLength=8",
            "--epochs=1", "--genLength=0", "--savePath=b.bin")  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "Loaded BPE from t.json (vocab=270" in p.stdout
    assert rnnpy.load_checkpoint(tmp_path / "b.bin").config.vocab_size == 270


@pytest.mark.parametrize(
    "args,source",
    [
        (["--bpeTrainingFile=f.txt", "--bpeTrainingText=bbbb bbbb", "--trainingText=cccc cccc"], "f"),
        (["--bpeTrainingText=bbbb bbbb", "--trainingFile=g.txt"], "b"),
        (["--trainingFile=g.txt", "--trainingText=cccc cccc"], "g"),
        (["--trainingText=cccc cccc"], "c"),
    ],
)
def test_train_bpe_only_and_its_source_priority(tmp_path, args, source):
    (tmp_path / "f.txt").write_text("ffff ffff ffff")
    (tmp_path / "g.txt").write_text("gggg gggg gggg")
    p = run(tmp_path, "train", "--trainBPE=true", "--bpeVocabSize=262", "--bpeSavePath=t.json", *args)
    assert p.returncode == 0, p.stderr
    assert "BPE TOKENIZER TRAINING MODE" in p.stdout and "Match: YES" in p.stdout
    assert not (tmp_path / "checkpoint.bin").exists()  # tokenizer only
    doc = json.loads((tmp_path / "t.json").read_text())
    assert doc["vocab"][260][1] == source * 2
