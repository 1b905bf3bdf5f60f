"""`rnnpy tokenizer train|encode|decode` (via main() and one real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rnnpy.tokenizer.cli import main
from test_tokenizer import G6, shakespeare


def test_train_encode_decode(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(shakespeare(15000), encoding="utf-8")
    out, hf = tmp_path / "tok.json", tmp_path / "hf.json"
    argv = ["train", "--input", str(corpus), "--vocab-size", "300", "--output", str(out), "--hf-output", str(hf)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert 'Merge    1: "e " (count: ' in printed and "| Vocab: 261 |" in printed
    assert "=== BPE Stats === Vocab: 300 | Merges: 40" in printed
    assert json.loads(out.read_text())["vocabSize"] == 300 and hf.exists()

    assert main(["encode", "--tokenizer", str(out), "--text", "Caf\u00e9 \u20ac1"]) == 0
    ids = capsys.readouterr().out.split()
    assert main(["decode", "--tokenizer", str(out), *ids]) == 0
    assert capsys.readouterr().out == "Caf\u00e9 \u20ac1"


def test_errors_are_one_line_exit_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe")
    cases = [
        ["train", "--input", str(bad)],
        ["encode", "--tokenizer", str(tmp_path / "missing.json"), "--text", "x"],
        ["decode", "--tokenizer", str(G6 / "tokenizer.json"), "12", "nope"],
        ["decode", "--tokenizer", str(G6 / "tokenizer.json"), "400"],
    ]
    for argv in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("rnnpy tokenizer: error: ") and err.count("\n") == 1, err
    assert main(["frobnicate"]) == 2


def test_subprocess_encode_g6() -> None:
    text = (G6 / "train.txt").read_text(encoding="utf-8")[:300]
    expected = json.loads((G6 / "expected.json").read_text())["inputs"]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnpy.tokenizer.cli",
            "encode",
            "--tokenizer",
            str(G6 / "tokenizer.json"),
            "--text",
            text,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ids = [int(x) for x in run.stdout.split()]
    assert ids[:40] == expected[:40] and run.stderr == ""
