"""`python -m rnnpy train` with a held-out text, the best model kept,
patience, schedules, budgets and batching modes — and old command lines
training exactly as before (in process, through the CLI's entry point)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import rnnpy
from rnnpy.cli import main
from rnnpy.evaluation import score
from rnnpy.tokenizer import BPETokenizer

TEXT = "".join(f"line {i}: the cat sat on the mat, the dog sat on the log.\n" for i in range(40))  # 2,370 chars


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "text.txt").write_text(TEXT)
    return tmp_path


def train(capsys: pytest.CaptureFixture[str], *args: str, status: int = 0) -> str:
    capsys.readouterr()
    small = ["--hiddenSize=16", "--embedSize=8", "--numHeads=2", "--fastMode"]
    seed = [] if any(a.startswith("--loadCheckpoint") for a in args) else ["--seed=3"]  # a resumed run's RNG goes on
    got = main(["train", "--trainingFile=text.txt", *small, *seed, "--genLength=0", *args])
    out, err = capsys.readouterr()
    assert got == status, err
    return out if status == 0 else err


def weights(path: Path | str) -> dict[str, np.ndarray]:
    return rnnpy.load_checkpoint(path).model.parameters()


def same(a: Path | str, b: Path | str) -> bool:
    wa, wb = weights(a), weights(b)
    return all(np.array_equal(wa[k], wb[k]) for k in wa)


def held_out_score(path: Path | str, fraction: float = 0.1) -> float:
    """The checkpoint's loss on the end of the text, computed here, not by the run."""
    ck = rnnpy.load_checkpoint(path)
    vocab = rnnpy.RunMetadata.of(ck).vocab
    assert vocab is not None
    return score(ck.model, vocab.encode(TEXT[int(len(TEXT) * (1 - fraction)) :])).loss


def test_an_old_command_line_trains_exactly_the_specs_loop(here, capsys):
    train(capsys, "--epochs=3", "--batchSize=3", "--seqLength=16", "--savePath=old.bin")
    vocab = rnnpy.CharVocab.from_text(TEXT)  # all of it: nothing is held out by default
    cfg = rnnpy.ModelConfig(vocab_size=vocab.size, embed_size=8, hidden_size=16, num_heads=2, fast_mode=True)
    model = rnnpy.Model(cfg, seed=3)
    trainer = rnnpy.Trainer(model)
    ids = np.array(vocab.encode(TEXT))
    n = (len(ids) - 1) // 16
    x, y = ids[: n * 16].reshape(n, 16), ids[1 : n * 16 + 1].reshape(n, 16)
    rng = np.random.Generator(np.random.PCG64(3))
    for _ in range(3):
        order = rng.permutation(n)
        for i in range(0, n, 3):  # the last, partial batch included
            trainer.step(x[order[i : i + 3]], y[order[i : i + 3]])
    ck = rnnpy.load_checkpoint(here / "old.bin")
    assert ck.optimizer_step == trainer.optimizer_step == 3 * -(-n // 3)
    assert all(np.array_equal(w, model.parameters()[k]) for k, w in ck.model.parameters().items())
    assert rnnpy.RunMetadata.of(ck).val is None


def test_val_fraction_holds_out_the_end_and_scores_it_exactly(here, capsys):
    out = train(capsys, "--epochs=4", "--valFraction=0.1", "--batchSize=8", "--metricsFile=m.jsonl")
    lines = re.findall(r"^Step +(\d+) \| Epoch +([\d.]+) \| Loss: \S+ \| Val: (\d+\.\d{6}) \| \S+ bits/char", out, re.M)
    assert [float(e) for _, e, _ in lines] == [1.0, 2.0, 3.0, 4.0]  # --evalEvery=1epoch by default
    ck = rnnpy.load_checkpoint(here / "checkpoint.bin")
    meta = rnnpy.RunMetadata.of(ck)
    assert meta.val is not None and meta.val.step == ck.optimizer_step
    assert meta.val.score.loss == pytest.approx(held_out_score(here / "checkpoint.bin"), rel=1e-6)
    assert float(lines[-1][2]) == pytest.approx(meta.val.score.loss, abs=1e-6)
    assert meta.vocab == rnnpy.CharVocab.from_text(TEXT)  # the held-out part's characters included
    assert f"Validation: {meta.val.score.loss:.6f} nats/token" in out
    rows = [json.loads(ln) for ln in (here / "m.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "val_loss" in r]
    assert len(evals) == 4 and evals[-1]["val_loss"] == meta.val.score.loss
    assert set(evals[0]) == {"step", "epoch", "train_loss", "val_loss", "val_bits_per_char", "tokens", "elapsed"}


def test_save_best_keeps_the_lowest_validation_model(here, capsys):
    train(capsys, "--epochs=12", "--valFraction=0.1", "--evalEvery=3", "--saveBest", "--learningRate=0.03",
          "--batchSize=4", "--metricsFile=m.jsonl")  # fmt: skip
    evals = [json.loads(ln) for ln in (here / "m.jsonl").read_text().splitlines() if "val_loss" in ln]
    best = min(evals, key=lambda r: r["val_loss"])
    assert best is not evals[-1], "the test wants a run whose best model is not its last"
    ck = rnnpy.load_checkpoint(here / "checkpoint_best.bin")
    assert ck.optimizer_step == best["step"]
    assert held_out_score(here / "checkpoint_best.bin") == pytest.approx(best["val_loss"], rel=1e-6)
    assert not same(here / "checkpoint_best.bin", here / "checkpoint.bin")


def test_patience_stops_after_evaluations_without_a_better_one(here, capsys):
    (here / "other.txt").write_text("the dog sat on the cat. the log sat on the dog.\n" * 4)
    out = train(capsys, "--epochs=200", "--valFile=other.txt", "--evalEvery=2", "--patience=2",
                "--learningRate=0.05", "--batchSize=4", "--metricsFile=m.jsonl")  # fmt: skip
    assert "(--patience): stopped after step" in out
    evals = [json.loads(ln)["val_loss"] for ln in (here / "m.jsonl").read_text().splitlines() if "val_loss" in ln]
    assert len(evals) < 200 and min(evals) < min(evals[-2:])
    assert evals.index(min(evals)) == len(evals) - 3  # two evaluations after the best


def test_budgets_stop_cleanly_and_still_evaluate_save_and_sample(here, capsys):
    out = train(capsys, "--valFraction=0.1", "--maxSteps=7", "--evalEvery=0", "--genLength=20", "--batchSize=4")
    assert "Step budget reached (--maxSteps=7): stopped after step 7 (epoch 0." in out
    assert re.search(r"^Step +7 \| .* \| Val: ", out, re.M) and "Validation:" in out
    assert re.search(r"^Saved binary checkpoint to \./checkpoint\.bin", out, re.M) and "Generated (20 tokens)" in out
    meta = rnnpy.RunMetadata.of(rnnpy.load_checkpoint(here / "checkpoint.bin"))
    assert meta.completed and meta.epoch == 0 and meta.position is not None and meta.position.batch == 7
    out = train(capsys, "--maxTime=1s", "--epochs=100000", "--batchSize=4")
    assert "Time budget reached (--maxTime=1s): stopped after step" in out
    assert not re.search(r"Done in [2-9]\.\ds", out)


@pytest.mark.parametrize("batching", ["shuffled", "random", "stateful"])
def test_a_run_resumed_after_a_budget_stop_trains_like_one_run(here, capsys, batching):
    common = [f"--batching={batching}", "--batchSize=4", "--seqLength=16", "--warmupSteps=20", "--valFraction=0.1",
              "--evalEvery=5"]  # fmt: skip
    train(capsys, *common, "--maxSteps=60", "--savePath=one.bin")
    train(capsys, *common, "--maxSteps=40", "--savePath=first.bin")  # stops inside epoch 2 (31-33 batches each)
    out = train(capsys, "--loadCheckpoint=first.bin", "--maxSteps=60", "--savePath=resumed.bin")  # options restored
    assert "Restored optimizer step: 40" in out and "restarts" not in out
    pos = rnnpy.RunMetadata.of(rnnpy.load_checkpoint(here / "first.bin")).position
    assert pos is not None and pos.epoch == 1 and pos.batch > 0 and pos.last_eval_step == 40 and pos.seconds > 0
    assert rnnpy.load_checkpoint(here / "resumed.bin").optimizer_step == 60
    assert same(here / "one.bin", here / "resumed.bin")


def test_a_schedule_resumed_from_an_epoch_checkpoint_is_exact(here, capsys):
    common = ["--epochs=4", "--lrSchedule=cosine", "--learningRate=0.01", "--minLearningRate=0.001",
              "--warmupSteps=50", "--batchSize=8"]  # fmt: skip
    train(capsys, *common, "--saveEvery=2", "--savePath=one.bin")
    train(capsys, "--loadCheckpoint=one_epoch2.bin", "--savePath=resumed.bin")
    assert same(here / "one.bin", here / "resumed.bin")
    options = rnnpy.RunMetadata.of(rnnpy.load_checkpoint(here / "resumed.bin")).options
    assert options["lrSchedule"] == "cosine" and options["warmupSteps"] == 50 and options["epochs"] == 4


@pytest.mark.parametrize(
    "args,message",
    [
        (["--valFraction=0.1", "--valFile=text.txt"], "give --valFraction or --valFile, not both"),
        (["--saveBest"], "--saveBest needs a validation text"),
        (["--patience=3"], "--patience needs a validation text"),
        (["--valFraction=0.001"], "gives 2 validation positions, fewer than one window of seqLength=25"),
        (["--valFile=missing.txt"], "--valFile"),
        (["--valFraction=1.5"], "option --valFraction: must be at least 0 and below 1"),
        (["--maxTime=soon"], "option --maxTime: expected a duration like 90s, 5m or 1h30m"),
        (["--batching=sorted"], "option --batching: expected shuffled or random or stateful"),
        (["--lrSchedule=step"], "option --lrSchedule: expected constant or cosine or linear"),
        (["--evalEvery=-1"], "option --evalEvery: expected a number of steps"),
        (["--batching=stateful", "--batchSize=500"], "fewer than 500 streams (batchSize) of one window"),
    ],
)
def test_mistakes_are_one_sentence(here, capsys, args, message):
    err = train(capsys, "--epochs=1", *args, status=2)
    assert message in err and err.count("\n") == 1


def test_a_validation_text_the_checkpoint_cannot_encode_is_an_error(here, capsys):
    train(capsys, "--epochs=1")
    (here / "v.txt").write_text("Zebras? " * 10)
    err = train(capsys, "--loadCheckpoint=checkpoint.bin", "--epochs=2", "--valFile=v.txt", status=2)
    assert "v.txt has 40 characters outside the model's vocabulary" in err
    assert rnnpy.load_checkpoint(here / "checkpoint.bin").metadata["epoch"] == 1  # the file is untouched


def test_with_bpe_the_tokenizer_learns_from_the_training_part_and_bits_count_characters(here, capsys):
    text = TEXT + "xyzzy, said the wizard. " * 12  # the held-out tenth has pairs the rest lacks
    (here / "text.txt").write_text(text)
    cut = int(len(text) * 0.9)
    out = train(capsys, "--epochs=1", "--useBPE", "--bpeVocabSize=300", "--valFraction=0.1", "--seqLength=8")
    learned = BPETokenizer.load(here / "tokenizer.json")
    assert learned.merges == BPETokenizer.train(text[:cut], vocab_size=300, min_frequency=2).merges
    assert learned.merges != BPETokenizer.train(text, vocab_size=300, min_frequency=2).merges  # so the test tells
    ck = rnnpy.load_checkpoint(here / "checkpoint.bin")
    val = rnnpy.RunMetadata.of(ck).val
    assert val is not None
    ids = learned.encode(text[cut:])
    want = score(ck.model, ids)  # nats per token, computed here
    chars = len(text) - cut - len(learned.decode(ids[:1]))  # every character after the first token's
    assert val.score.loss == pytest.approx(want.loss, rel=1e-6) and val.score.tokens == len(ids) - 1 < chars
    bits = want.loss * (len(ids) - 1) / chars / math.log(2)
    assert f"{bits:.4f} bits/char" in out
