"""`python -m rnnpy plot`: a real PNG from real metrics files, several runs
overlaid, validation rows, older files, and a clear message without matplotlib."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from rnnpy.cli import main
from rnnpy.plot import read_metrics

TEXT = "the quick brown fox jumps over the lazy dog. " * 4
C0, C1 = (31, 119, 180), (255, 127, 14)  # matplotlib's first two line colours


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("plot")
    for lr in ("0.001", "0.01"):
        argv = ["train", f"--trainingText={TEXT}", "--epochs=15", "--hiddenSize=16", f"--learningRate={lr}",
                f"--metricsFile={d / f'lr{lr}.jsonl'}", "--saveOnComplete=false", "--genLength=0", "--seed=1", "--quiet"]  # fmt: skip
        assert main(argv) == 0
    return [d / "lr0.001.jsonl", d / "lr0.01.jsonl"]


def png_chunks(data: bytes) -> dict[bytes, bytes]:
    """A PNG's chunks by type, each checked against its CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, i = {}, 8
    while i < len(data):
        (n,) = struct.unpack(">I", data[i : i + 4])
        kind, body, crc = data[i + 4 : i + 8], data[i + 8 : i + 8 + n], data[i + 8 + n : i + 12 + n]
        assert struct.unpack(">I", crc)[0] == zlib.crc32(kind + body), kind
        chunks[kind] = chunks.get(kind, b"") + body
        i += 12 + n
    return chunks


def has_colour(pixels: np.ndarray, rgb: tuple[int, int, int]) -> bool:
    return bool(np.any(np.all(np.abs(pixels[..., :3] * 255 - rgb) < 3, axis=-1)))


def test_two_runs_overlaid_in_a_valid_png(runs, tmp_path, capsys):
    out = tmp_path / "curves.png"
    assert main(["plot", *map(str, runs), "-o", str(out)]) == 0
    assert f"Saved 2 run(s) to {out}" in capsys.readouterr().out
    data = out.read_bytes()
    chunks = png_chunks(data)
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    assert (width, height) == (1100, 750) and b"IEND" in chunks and len(zlib.decompress(chunks[b"IDAT"])) > 0
    import matplotlib.image

    pixels = matplotlib.image.imread(out)
    assert pixels.shape[:2] == (750, 1100) and len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50
    assert has_colour(pixels, C0) and has_colour(pixels, C1)  # one line colour per run


def test_the_metrics_rows_become_curves(runs):
    run = read_metrics(runs[0])
    rows = [json.loads(line) for line in runs[0].read_text().splitlines()]
    assert run.label == "lr0.001" and run.has_tokens
    assert run.series("loss", "tokens").y == [r["loss"] for r in rows]
    assert run.series("loss", "tokens").x == [r["tokens"] for r in rows]
    assert run.series("lr", "tokens").y == pytest.approx([0.001] * 15)
    assert run.series("grad_norm", "elapsed").x == [r["elapsed"] for r in rows]


def test_validation_rows_and_files_without_tokens(tmp_path):
    rows = [{"epoch": e, "loss": 3.0 / e, "grad_norm": 1.0, "elapsed": e * 0.1} for e in range(1, 6)]
    rows += [{"step": 10, "epoch": 2.5, "train_loss": 1.3, "val_loss": 1.5, "elapsed": 0.25}]
    (tmp_path / "old.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n\n")
    run = read_metrics(tmp_path / "old.jsonl")
    assert not run.has_tokens  # rnnpy before `tokens`: drawn against epochs
    assert run.series("val_loss", "epoch").x == [2.5] and run.series("loss", "epoch").x == [1, 2, 3, 4, 5]
    assert main(["plot", str(tmp_path / "old.jsonl"), f"--output={tmp_path / 'c.png'}"]) == 0
    assert png_chunks((tmp_path / "c.png").read_bytes())[b"IHDR"]


@pytest.mark.parametrize(
    "content,message",
    [
        ('{"epoch": 1, "loss": 2.0}\nnot json\n', "line 2 is not JSON"),
        ("[1, 2]\n", "line 1 is not a JSON object"),
        ('{"epoch": 1}\n', "has no loss to plot"),
    ],
)
def test_files_that_are_not_metrics_are_one_line_errors(tmp_path, capsys, content, message):
    (tmp_path / "m.jsonl").write_text(content)
    (tmp_path / "c.png").write_bytes(b"the previous image")
    assert main(["plot", str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert (tmp_path / "c.png").read_bytes() == b"the previous image"  # nothing lost


def test_a_missing_file_is_a_one_line_error(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "none.jsonl")]) == 2
    assert "cannot read the metrics file" in capsys.readouterr().err


def test_without_matplotlib_the_message_says_how_to_install_it(runs, tmp_path, capsys, without_package):
    without_package("matplotlib")
    assert main(["plot", str(runs[0]), "-o", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err
    assert err == "rnnpy plot: error: plot needs the optional package matplotlib: pip install 'rnnpy[plot]'\n"
    assert not (tmp_path / "c.png").exists()


def test_an_output_in_a_missing_directory_is_named(runs, tmp_path, capsys):
    assert main(["plot", str(runs[0]), "-o", str(tmp_path / "no" / "c.png")]) == 2
    err = capsys.readouterr().err
    assert f"'{tmp_path / 'no' / 'c.png'}': cannot write: no such file or folder" in err and err.count("\n") == 1
