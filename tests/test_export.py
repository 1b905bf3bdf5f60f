"""`export --format=safetensors` / `import`: the round trip is exact (every
parameter bit, the config, the metadata text, version and timestamp; not
AdamW's state), on the old program's golden checkpoints and on rnnpy's; the
files are what other tools read (safetensors by MODEL.md names, a Hugging
Face tokenizer with the same ids)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import rnnpy
from conftest import golden_cases
from rnnpy import export
from rnnpy.cli import main

safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="export needs safetensors (rnnpy[export])")
tokenizers = pytest.importorskip("tokenizers")

TEXT = "the quick brown fox jumps over the lazy dog. " * 4


def vocab_args(case: Path) -> list[str]:
    """How an old program's checkpoint gets its vocabulary on the command line."""
    if (case / "tokenizer.json").exists():
        return ["--useBPE", f"--bpeLoadPath={case / 'tokenizer.json'}"]
    return [f"--trainingFile={case / 'train.txt'}"]


def round_trip(capsys, source: Path, tmp: Path, *args: str) -> Path:
    assert main(["export", str(source), "--format=safetensors", "-o", str(tmp / "out"), *args]) == 0
    assert main(["import", str(tmp / "out"), "-o", str(tmp / "back.bin")]) == 0
    capsys.readouterr()
    return tmp / "back.bin"


def without_optimizer_state(ck: rnnpy.Checkpoint, path: Path) -> bytes:
    """The checkpoint's file as it would be with step 0 and zero moments (all an import cannot restore)."""
    zeros = np.zeros_like(ck.param_m)
    dataclasses.replace(ck, optimizer_step=0, param_m=zeros, param_v=zeros).save(path)
    return path.read_bytes()


@pytest.mark.parametrize("case", golden_cases(), ids=lambda p: p.name)
def test_old_program_checkpoints_come_back_exactly(case, tmp_path, capsys):
    back = round_trip(capsys, case / "checkpoint.bin", tmp_path, *vocab_args(case))
    a, b = rnnpy.load_checkpoint(case / "checkpoint.bin"), rnnpy.load_checkpoint(back)
    assert b.config == a.config and b.metadata_text == a.metadata_text
    assert (b.version, b.timestamp) == (a.version, a.timestamp)
    for name, value in a.model.parameters().items():
        assert np.array_equal(b.model.parameters()[name], value), name
    x = np.asarray(json.loads((case / "expected.json").read_text())["inputs"])[None]
    assert np.array_equal(b.model.logits(x), a.model.logits(x))
    assert b.optimizer_step == 0 and not b.param_m.any() and not b.param_v.any()  # not kept: AdamW's state
    assert back.read_bytes() == without_optimizer_state(a, tmp_path / "expected.bin")  # everything else: every byte


@pytest.mark.parametrize("case", golden_cases(), ids=lambda p: p.name)
def test_the_tokenizer_gives_the_same_ids_in_hugging_face_tokenizers(case, tmp_path, capsys):
    assert main(["export", str(case / "checkpoint.bin"), "-o", str(tmp_path), *vocab_args(case)]) == 0
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    text = (case / "train.txt").read_text()
    expected = json.loads((case / "expected.json").read_text())
    assert hf.encode(text).ids[: len(expected["inputs"])] == expected["inputs"]
    lm = rnnpy.load(tmp_path)  # the export alone: the vocabulary and first character came with it
    assert hf.encode(text).ids == lm.encode(text) and hf.get_vocab_size() >= lm.vocab.size
    if lm.vocab.kind == "char":
        assert hf.decode(lm.encode(text)) == text
        assert lm.generate(length=40, temperature=0) == expected["greedy"]["text"][:41]


def test_an_rnnpy_checkpoint_without_optimizer_state_comes_back_byte_for_byte(tmp_path, capsys):
    lm = rnnpy.train_text(TEXT, hidden_size=16, num_layers=2, num_experts=3, top_k=5, seq_length=16, epochs=2, seed=3)
    rnnpy.save_checkpoint(tmp_path / "m.bin", lm.model, metadata={"epoch": 2, "note": "ünïcode"})
    back = round_trip(capsys, tmp_path / "m.bin", tmp_path)
    assert back.read_bytes() == (tmp_path / "m.bin").read_bytes()
    assert rnnpy.load_checkpoint(back).config.top_k == 5  # the raw option, not min(top_k, NE - 1)


def test_a_trained_checkpoint_keeps_everything_but_adams_state(tmp_path, capsys):
    argv = ["train", f"--trainingText={TEXT}", "--epochs=3", "--hiddenSize=16", "--seed=2", "--useBPE",
            "--bpeVocabSize=270", f"--bpeSavePath={tmp_path / 't.json'}", "--seqLength=8",
            f"--savePath={tmp_path / 'm.bin'}", "--genLength=0", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert main(["export", str(tmp_path / "m.bin"), "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "Not exported: AdamW's moments and step" in out and "tokenizer.json" in out
    assert main(["import", str(tmp_path / "out"), "-o", str(tmp_path / "back.bin")]) == 0
    original = rnnpy.load_checkpoint(tmp_path / "m.bin")
    assert (tmp_path / "back.bin").read_bytes() == without_optimizer_state(original, tmp_path / "expected.bin")
    lm = rnnpy.load(tmp_path / "back.bin")  # still generates on its own
    assert lm.generate("the ", length=20, seed=1) == rnnpy.load(tmp_path / "m.bin").generate("the ", length=20, seed=1)
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "out" / "tokenizer.json"))
    assert hf.encode(TEXT).ids == lm.encode(TEXT) and hf.decode(lm.encode("naïve €")) == "naïve €"


def test_the_files_are_what_other_tools_read(tmp_path):
    model = rnnpy.Model(rnnpy.ModelConfig(vocab_size=11, embed_size=8, hidden_size=12, num_layers=2), seed=1)
    rnnpy.save_checkpoint(tmp_path / "m.bin", model)
    export.write(rnnpy.load_checkpoint(tmp_path / "m.bin"), tmp_path / "out")
    tensors = safetensors_numpy.load_file(str(tmp_path / "out" / "model.safetensors"))
    shapes = model.config.param_shapes()
    assert sorted(tensors) == sorted(n for n, _ in shapes)
    for name, shape in shapes:
        assert tensors[name].dtype == np.float32 and tensors[name].shape == tuple(shape), name
        assert np.array_equal(tensors[name], model.parameters()[name])
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["model_type"] == "rnnpy" and config["hidden_size"] == 12 and config["num_layers"] == 2
    assert config["rnnpy"]["vocab"] is None and not (tmp_path / "out" / "tokenizer.json").exists()


def test_an_old_checkpoint_without_its_text_exports_the_weights_and_says_so(tmp_path, capsys):
    cases = golden_cases()
    if not cases:
        pytest.skip("needs ../shared/golden")
    assert main(["export", str(cases[0] / "checkpoint.bin"), "-o", str(tmp_path)]) == 0
    assert "carries no vocabulary" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


def _export(tmp_path: Path) -> Path:
    model = rnnpy.Model(rnnpy.ModelConfig(vocab_size=7, hidden_size=8, embed_size=8, fast_mode=True), seed=0)
    rnnpy.save_checkpoint(tmp_path / "m.bin", model)
    export.write(rnnpy.load_checkpoint(tmp_path / "m.bin"), tmp_path / "out")
    return tmp_path / "out"


def _edit_tensors(d: Path, change) -> None:
    tensors = safetensors_numpy.load_file(str(d / "model.safetensors"))
    change(tensors)
    safetensors_numpy.save_file(tensors, str(d / "model.safetensors"))


def _edit_config(d: Path, change) -> None:
    config = json.loads((d / "config.json").read_text())
    change(config)
    (d / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda d: (d / "config.json").unlink(), "is not an export directory: it has no config.json"),
        (lambda d: (d / "model.safetensors").unlink(), "has no model.safetensors"),
        (lambda d: (d / "model.safetensors").write_bytes(b"junk"), "is not a safetensors file"),
        (lambda d: (d / "config.json").write_text("{"), "config.json' cannot be read"),
        (lambda d: _edit_config(d, lambda c: c.update(model_type="gpt2")), "does not describe an rnnpy model"),
        (lambda d: _edit_config(d, lambda c: c.pop("hidden_size")), "has no hidden_size"),
        (lambda d: _edit_config(d, lambda c: c.update(hidden_size=6)), "divisible"),
        (lambda d: _edit_config(d, lambda c: c["rnnpy"].update(export_format=9)), "export format 9"),
        (lambda d: _edit_tensors(d, lambda t: t.pop("output_norm")), "missing output_norm"),
        (lambda d: _edit_tensors(d, lambda t: t.update(extra=np.zeros(2, np.float32))), "unexpected extra"),
        (
            lambda d: _edit_tensors(d, lambda t: t.update(output_norm=np.zeros(3, np.float32))),
            "output_norm is float32 [3]",
        ),
        (lambda d: _edit_tensors(d, lambda t: t.update(output_norm=np.zeros(8, np.float16))), "output_norm is float16"),
    ],
)
def test_a_damaged_export_is_a_one_line_error_and_loses_nothing(tmp_path, capsys, damage, message):
    d = _export(tmp_path)
    damage(d)
    (tmp_path / "keep.bin").write_bytes(b"an earlier checkpoint")
    assert main(["import", str(d), "-o", str(tmp_path / "keep.bin")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnpy import: error: ") and message in err and err.count("\n") == 1, err
    assert (tmp_path / "keep.bin").read_bytes() == b"an earlier checkpoint"


def test_export_into_a_file_is_an_error(tmp_path, capsys):
    _export(tmp_path)
    (tmp_path / "file").write_text("x")
    assert main(["export", str(tmp_path / "m.bin"), "-o", str(tmp_path / "file")]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err


def test_without_safetensors_the_message_says_how_to_install_it(tmp_path, capsys, without_package):
    _export(tmp_path)
    without_package("safetensors")
    for argv in (
        ["export", str(tmp_path / "m.bin"), "-o", str(tmp_path / "x")],
        ["import", str(tmp_path / "out"), "-o", "y.bin"],
    ):
        assert main(argv) == 2
        assert "needs the optional package safetensors: pip install 'rnnpy[export]'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_exported_files_get_the_mode_of_any_new_file(tmp_path):
    import os

    out = _export(tmp_path)
    mask = os.umask(0)
    os.umask(mask)
    for f in out.iterdir():
        assert f.stat().st_mode & 0o777 == 0o666 & ~mask, f.name


@pytest.mark.parametrize("case", golden_cases(), ids=lambda p: p.name)
def test_generate_reads_an_export_directory_alone(case, tmp_path, capsys):
    """The export of an old program's checkpoint carries the vocabulary it was given: no training text needed."""
    assert main(["export", str(case / "checkpoint.bin"), "-o", str(tmp_path), *vocab_args(case)]) == 0
    capsys.readouterr()
    sampling = ["--genLength=30", "--temperature=0.9", "--sampleTopK=5", "--seed=3", "--quiet", "--prompt=he"]
    assert main(["generate", f"--loadCheckpoint={case / 'checkpoint.bin'}", *vocab_args(case), *sampling]) == 0
    from_file = capsys.readouterr().out
    assert main(["generate", f"--loadCheckpoint={tmp_path}", *sampling]) == 0
    assert capsys.readouterr().out == from_file


def test_generate_without_a_prompt_starts_where_the_checkpoint_does(tmp_path, capsys):
    argv = ["train", f"--trainingText={TEXT}", "--epochs=2", "--hiddenSize=16", "--seed=2",
            f"--savePath={tmp_path / 'm.bin'}", "--genLength=0", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert main(["export", str(tmp_path / "m.bin"), "-o", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    outs = []
    for source in (tmp_path / "m.bin", tmp_path / "out"):
        assert main(["generate", f"--loadCheckpoint={source}", "--genLength=25", "--seed=4", "--quiet"]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and outs[0].startswith("t")


@pytest.mark.parametrize("command", [["train", f"--trainingText={TEXT}", "--epochs=1"], ["rl", "--rlTask=copy"]])
def test_commands_that_need_a_checkpoint_file_say_how_to_import_an_export(command, tmp_path, capsys):
    out = _export(tmp_path)
    assert main([*command, f"--loadCheckpoint={out}", f"--savePath={tmp_path / 'n.bin'}"]) == 2
    err = capsys.readouterr().err
    assert f"checkpoint '{out}' is a directory, not a checkpoint file" in err and f"rnnpy import {out} -o" in err
    assert err.count("\n") == 1 and not (tmp_path / "n.bin").exists()
