"""`python -m rnnpy info CHECKPOINT|EXPORT_DIR [--json]`: rnnpy's checkpoints, every
metadata shape earlier versions wrote, the old program's files, and export directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rnnpy
from conftest import GOLDEN, golden_cases
from rnnpy.cli import main

TEXT = "the quick brown fox jumps over the lazy dog. " * 4
FIXTURES = Path(__file__).parent / "fixtures" / "metadata"


def info(capsys, *args: str) -> str:
    assert main(["info", *map(str, args)]) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("info")
    argv = ["train", f"--trainingText={TEXT}", "--epochs=6", "--hiddenSize=16", "--seed=4", "--saveEvery=3",
            f"--savePath={d / 'm.bin'}", "--genLength=0", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    return d


def test_an_rnnpy_checkpoint(trained, capsys):
    path = trained / "m.bin"
    d = json.loads(info(capsys, path, "--json"))
    ck = rnnpy.load_checkpoint(path)
    assert d["file_bytes"] == path.stat().st_size and d["format"] == "3.0-bin" and d["timestamp"] == ck.timestamp
    assert d["written_by"] == f"rnnpy {rnnpy.__version__}"
    assert d["architecture"]["hidden_size"] == 16 and d["architecture"]["vocab_size"] == ck.config.vocab_size
    assert d["parameters"] == {"total": ck.config.num_parameters(), "active": ck.config.active_parameters()}
    assert d["optimizer"] == {"step": ck.optimizer_step, "moments": True} and ck.optimizer_step > 0
    t = d["training"]
    assert (t["epoch"], t["completed"], t["best_loss"]) == (6, True, ck.metadata["loss"])
    assert t["last_loss"] == ck.metadata["rnnpy"]["last_loss"] and t["last_loss"] >= t["best_loss"]
    assert d["vocabulary"] == {"type": "char", "size": len(set(TEXT)), "chars": "".join(sorted(set(TEXT)))}
    assert (d["start"], d["seed"]) == ("t", 4) and d["options"]["hiddenSize"] == 16 and d["rl"] is None
    text = info(capsys, path)
    assert text.startswith(f"{path} (") and f"by rnnpy {rnnpy.__version__}" in text
    for needle in ("H 16, E 16, 1 layer(s), 4 heads, 4 experts top-1, RWKV on", f"{ck.config.num_parameters():,} total",
                   f"AdamW step {ck.optimizer_step}, moments stored", "epoch 6, completed in", "best loss",
                   "last loss", f"{len(set(TEXT))} characters ' .", "seed          4",
                   "--hiddenSize=16 ", "--epochs=6 ", "--quiet=true ", f"--trainingText=({len(TEXT)} chars) "):  # fmt: skip
        assert needle in text, needle
    assert "--numLayers" not in text  # options at their defaults are left out of the text


def test_a_periodic_checkpoint_shows_the_loss_of_its_epoch(trained, capsys):
    d = json.loads(info(capsys, trained / "m_epoch3.bin", "--json"))["training"]
    assert (d["epoch"], d["completed"], d["best_loss"]) == (3, False, None) and d["last_loss"] > 0
    assert "epoch 3, saved; last loss" in info(capsys, trained / "m_epoch3.bin")


def test_a_bpe_model_and_an_rl_record(tmp_path, capsys):
    lm = rnnpy.train_text(TEXT, bpe_vocab_size=270, hidden_size=8, seq_length=8, epochs=1, seed=1)
    lm.save(tmp_path / "b.bin")
    assert "BPE (utf8-bytes), 270 tokens, 10 merges" in info(capsys, tmp_path / "b.bin")
    meta = json.loads((FIXTURES / "81a7336-rl-command.json").read_text())
    model = rnnpy.Model(rnnpy.ModelConfig(vocab_size=meta["vocab_size"], fast_mode=True, hidden_size=16), seed=0)
    rnnpy.save_checkpoint(tmp_path / "rl.bin", model, metadata=meta["metadata"])
    assert "rl            GRPO on copy, 2 episodes: exact 0.0% -> 0.0%" in info(capsys, tmp_path / "rl.bin")


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_every_metadata_shape_earlier_versions_wrote(fixture, tmp_path, capsys):
    doc = json.loads(fixture.read_text())
    model = rnnpy.Model(rnnpy.ModelConfig(vocab_size=doc["vocab_size"]), seed=0)
    rnnpy.save_checkpoint(tmp_path / "m.bin", model, metadata=doc["metadata"])
    d = json.loads(info(capsys, tmp_path / "m.bin", "--json"))
    assert d["training"]["epoch"] == doc["metadata"].get("epoch", 0) and d["vocabulary"] is not None
    assert info(capsys, tmp_path / "m.bin").count("\n") >= 7


@pytest.mark.parametrize("case", golden_cases(), ids=lambda p: p.name)
def test_the_old_programs_checkpoints(case, capsys):
    d = json.loads(info(capsys, case / "checkpoint.bin", "--json"))
    ck = rnnpy.load_checkpoint(case / "checkpoint.bin")
    assert d["written_by"] == "the old rnn-rust program" and d["vocabulary"] is None and d["options"] == {}
    assert d["optimizer"]["step"] == ck.optimizer_step and d["optimizer"]["moments"]
    assert d["training"]["epoch"] == ck.metadata["epoch"] and d["training"]["best_loss"] == ck.metadata["loss"]
    text = info(capsys, case / "checkpoint.bin")
    assert "by the old rnn-rust program" in text and "vocabulary    not stored (the old program's" in text


def test_an_old_checkpoint_saved_again_by_rnnpy(tmp_path, capsys):
    case = GOLDEN / "g1"
    if not case.is_dir():
        pytest.skip("needs ../shared/golden")
    rnnpy.load(case / "checkpoint.bin", text=(case / "train.txt").read_text()).save(tmp_path / "m.bin")
    d = json.loads(info(capsys, tmp_path / "m.bin", "--json"))
    assert d["written_by"] == "rnnpy" and d["vocabulary"]["size"] == 20 and d["training"]["epoch"] == 500


@pytest.mark.skipif(not GOLDEN.is_dir(), reason="needs ../shared/golden")
@pytest.mark.parametrize(
    "args,message",
    [
        (["missing.bin"], "rnnpy info: error: checkpoint 'missing.bin'"),
        (["a.bin", "b.bin"], "rnnpy info: error: info takes one checkpoint file or export directory, got 2"),
        ([], "rnnpy info: error: info takes one checkpoint file or export directory, got 0"),
        ([str(GOLDEN / "g1" / "train.txt")], "rnnpy info: error: checkpoint '"),
    ],
)
def test_errors_are_one_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["info", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_an_export_directory_describes_the_checkpoint_it_was_made_from(trained, tmp_path, capsys):
    pytest.importorskip("safetensors", reason="export needs safetensors (rnnpy[export])")
    assert main(["export", str(trained / "m.bin"), "-o", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    original = json.loads(info(capsys, trained / "m.bin", "--json"))
    d = json.loads(info(capsys, tmp_path / "out", "--json"))
    names = ["model.safetensors", "config.json", "tokenizer.json"]
    assert d["export_files"] == [str(tmp_path / "out" / n) for n in names] and original["export_files"] is None
    assert d["file_bytes"] == sum((tmp_path / "out" / n).stat().st_size for n in names)
    assert d["optimizer"] == {"step": 0, "moments": False}  # AdamW's state is not exported
    for key in ("format", "timestamp", "written_by", "architecture", "parameters", "training", "vocabulary",
                "start", "seed", "options"):  # fmt: skip
        assert d[key] == original[key], key
    text = info(capsys, tmp_path / "out")
    assert text.startswith(f"{tmp_path / 'out'} (export directory, ")
    assert "optimizer     not in an export" in text
    assert "files         model.safetensors, config.json, tokenizer.json" in text


def test_an_export_of_an_old_checkpoint_shows_the_vocabulary_it_was_given(tmp_path, capsys):
    pytest.importorskip("safetensors", reason="export needs safetensors (rnnpy[export])")
    case = GOLDEN / "g1"
    if not case.is_dir():
        pytest.skip("needs ../shared/golden")
    argv = ["export", str(case / "checkpoint.bin"), "-o", str(tmp_path), f"--trainingFile={case / 'train.txt'}"]
    assert main(argv) == 0
    capsys.readouterr()
    d = json.loads(info(capsys, tmp_path, "--json"))
    chars = "".join(sorted(set((case / "train.txt").read_text())))
    assert d["written_by"] == "the old rnn-rust program"
    assert d["vocabulary"] == {"type": "char", "size": 20, "chars": chars}
    assert d["start"] == "h" and d["training"]["epoch"] == 500


def test_a_time_that_is_not_a_number_is_shown_as_unknown(tmp_path, capsys) -> None:
    """Metadata from another writer with `"time": []` (found by the metadata fuzzer) is no traceback."""
    from rnnpy.checkpoint import save_checkpoint

    model = rnnpy.Model(rnnpy.ModelConfig(vocab_size=5, hidden_size=8, embed_size=4, num_layers=1), seed=0)
    path = tmp_path / "m.bin"
    save_checkpoint(str(path), model, rnnpy.Trainer(model, 1e-3), {"epoch": 1, "loss": 1.0, "time": []})
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["training"]["seconds"] is None
