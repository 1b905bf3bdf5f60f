"""`python -m rnnpy tasks`, `train --doRL=true` and `rl`, as subprocesses (tiny
models, short schedules: seconds). Whether GRPO improves a model is
tests/test_rl_end_to_end.py's job; this checks the commands and their files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import rnnpy
from rnnpy.rl.tasks import get_task

EVAL_LINE = r"exact +\d+\.\d% \| mean reward \d\.\d{3} \| 20 held-out prompts(, \d+ distinct)? \(greedy\)"
GENERAL_LINE = r"  beyond training \(7–8 letters\): exact +\d+\.\d% \| mean reward \d\.\d{3} \| 20 unseen prompts"
EPISODE_LINE = re.compile(r"^Ep +\d+ \| R: \d\.\d{3} \| Avg: \d\.\d{3} \| Exact: +\d+\.\d% \| Zero-spread: \d+/4 \|")
TINY = ["--fastMode=true", "--hiddenSize=16", "--embedSize=8", "--numHeads=2", "--seed=3"]
SHORT_RL = ["--rlEpisodes=4", "--rlPrompts=4", "--rlGroupSize=4", "--rlEvalPrompts=20", "--rlLogEvery=2"]


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rnnpy", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )


def ok(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    p = run(cwd, *args)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    return p


def test_tasks_prints_n_solved_examples(tmp_path):
    p = ok(tmp_path, "tasks", "--task=reverse", "--n=37", "--seed=2")
    lines = p.stdout.splitlines()
    assert len(lines) == 37 and p.stdout.endswith("\n")
    task = get_task("reverse")
    for line in lines:
        prompt, answer = line.split(">")
        assert task.reward(prompt + ">", answer) == 1.0
    # the same seed, the same corpus; the old spelling of the options works too
    assert ok(tmp_path, "tasks", "--TASK=reverse", "--N=37", "--seed=2").stdout == p.stdout
    arithmetic = ok(tmp_path, "tasks", "--task=arithmetic", "--n=5").stdout.splitlines()
    assert len(arithmetic) == 5 and all(re.fullmatch(r"\d[-+*]\d=-?\d+", ln) for ln in arithmetic)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A tiny model trained on a copy corpus, then RL, through `train --doRL=true`."""
    d = tmp_path_factory.mktemp("rl")
    (d / "copy.txt").write_text(ok(d, "tasks", "--task=copy", "--n=300").stdout)
    p = ok(
        d, "train", "--trainingFile=copy.txt", *TINY, "--epochs=2", "--batchSize=16", "--seqLength=32",
        "--learningRate=0.003", "--savePath=model.bin", "--genLength=30",
        "--doRL=true", "--rlTask=copy", "--rl-learning-rate", "0.002", "--RLKL=0.01", "--rlInnerSteps=2", *SHORT_RL,
        "--metricsFile=metrics.jsonl",
    )  # fmt: skip
    return d, p


def test_train_with_rl_evaluates_before_and_after_then_samples(trained):
    d, p = trained
    out = p.stdout
    header = "RL (GRPO): task copy | episodes 4 | G 4 | prompts 4 | lr 0.002 | clip 0.2 | KL 0.01 | inner steps 2"
    assert header + " | temperature 1.0" in out
    before = re.search(rf"^Before RL: {EVAL_LINE}\n{GENERAL_LINE}", out, re.MULTILINE)
    after = re.search(rf"^After RL: {EVAL_LINE}\n{GENERAL_LINE}", out, re.MULTILINE)
    assert re.search(r"^RL done in \d+\.\ds \(\d+\.\d episodes/s\)$", out, re.MULTILINE)
    saved = re.search(r"^Saved binary checkpoint to model\.bin", out, re.MULTILINE)
    sample = re.search(r"Generating post-RL sample\.\.\.\n\nTemperature: 0\.8\nGenerated \(30 tokens\):\n-{70}\n", out)
    assert before and after and saved and sample
    assert out.index("Done in") < before.start() < after.start() < saved.start() < sample.start()
    episodes = [ln for ln in out.splitlines() if ln.startswith("Ep ")]
    assert [int(ln.split()[1]) for ln in episodes] == [1, 2, 4]  # the first, then every rlLogEvery
    assert all(EPISODE_LINE.match(ln) for ln in episodes), episodes

    ck = rnnpy.load_checkpoint(d / "model.bin")
    meta = ck.metadata
    assert meta["epoch"] == 2 and meta["completed"] is True and "loss" in meta  # the old program's keys
    rl = meta["rl"]
    assert rl["task"] == "copy" and rl["episodes"] == 4 and rl["group_size"] == 4 and rl["inner_steps"] == 2
    assert rl["learning_rate"] == 0.002 and rl["kl"] == 0.01
    assert set(rl["before"]) == set(rl["after"]) == {"exact", "mean_reward"}
    assert set(rl["general"]) == {"before", "after"} and rl["temperature"] == 1.0
    assert meta["rnnpy"]["vocab"]["type"] == "char"
    # RL starts a fresh AdamW (as TRL), whose state the checkpoint keeps: 4 episodes × 2 inner steps
    assert ck.optimizer_step == 4 * 2


def test_rl_command_on_a_checkpoint_made_by_train(trained):
    d, _ = trained
    p = ok(d, "rl", "--loadCheckpoint=model.bin", "--rlTask=copy", "--savePath=rl.bin", "--seed=5", *SHORT_RL)
    assert re.search(rf"^Before RL: {EVAL_LINE}$", p.stdout, re.MULTILINE)
    assert re.search(rf"^After RL: {EVAL_LINE}$", p.stdout, re.MULTILINE)
    assert "Saved binary checkpoint to rl.bin" in p.stdout
    before = rnnpy.load_checkpoint(d / "model.bin")
    ck = rnnpy.load_checkpoint(d / "rl.bin")
    meta = ck.metadata
    assert meta["rl"]["seed"] == 5 and meta["rl"]["episodes"] == 4
    assert meta["epoch"] == before.metadata["epoch"] and meta["loss"] == before.metadata["loss"]
    assert meta["rnnpy"]["vocab"] == before.metadata["rnnpy"]["vocab"]
    assert ck.optimizer_step == 4  # a fresh AdamW
    # generation needs nothing but the RL'd checkpoint
    g = ok(d, "generate", "--loadCheckpoint=rl.bin", "--prompt=\nabc:", "--temperature=0", "--genLength=8")
    assert "Generated (8 tokens)" in g.stdout


BAD = [
    (["train", "--doRL=true", "--rlTask=nope"], "--rlTask"),
    (["train", "--doRL=true", "--rlClip=1.5"], "--rlClip"),
    (["train", "--doRL=true", "--rlGroupSize=1"], "--rlGroupSize"),
    # a copy model has no digits, and its vocabulary cannot grow: found out before training
    (["train", "--loadCheckpoint=model.bin", "--doRL=true", "--rlTask=arithmetic", "--epochs=0"], "lacks characters"),
    # more epochs on the built-in sample, which the copy model cannot read
    (["train", "--loadCheckpoint=model.bin", "--epochs=5"], "the built-in sample: the text has characters outside"),
    (["rl", "--loadCheckpoint=model.bin", "--rlTask=nope"], "--rlTask"),
    (["rl", "--loadCheckpoint=model.bin", "--rlTask=arithmetic"], "lacks characters"),
    (["rl", "--loadCheckpoint=missing.bin"], "missing.bin"),
    (["rl", "--loadCheckpoint=model.bin", "--rlNoSuchOption=3"], "--rlNoSuchOption"),
    (["tasks", "--task=nope"], "unknown RL task"),
    (["tasks", "--n=0"], "--n"),
]


@pytest.mark.parametrize("argv,fragment", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_rl_input_is_one_line_without_traceback(trained, argv, fragment):
    d, _ = trained
    p = run(d, *argv)
    assert p.returncode == 2, p.stdout
    assert "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert fragment in p.stderr
    assert "Training..." not in p.stdout  # found out before any training
    # an error names only options the user gave
    named = set(re.findall(r"--([A-Za-z]+)", p.stderr))
    given = {a.split("=")[0].lstrip("-") for a in argv if a.startswith("--")}
    assert named <= given, (named, given)


def test_help_lists_every_rl_option(tmp_path):
    from rnnpy.cli.options import RLOptions, option_names

    train_help = ok(tmp_path, "train", "--help").stdout
    rl_help = ok(tmp_path, "rl", "--help").stdout
    for name in set(option_names(RLOptions).values()) - {"doRL"}:
        assert f"--{name}" in train_help and f"--{name}" in rl_help, name
    assert "--doRL" in train_help
    usage = ok(tmp_path, "--help").stdout
    assert re.search(r"^  rl ", usage, re.MULTILINE) and re.search(r"^  tasks ", usage, re.MULTILINE)


def metrics_rows(path: Path) -> tuple[list[dict], list[dict], list[dict]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return (
        [r for r in rows if "phase" not in r],
        [r for r in rows if r.get("phase") == "rl"],
        [r for r in rows if r.get("phase") == "rl_eval"],
    )


def check_rl_rows(episodes: list[dict], evals: list[dict], n: int) -> None:
    assert [r["episode"] for r in episodes] == list(range(1, n + 1))
    for r in episodes:
        assert 0 <= r["reward"] <= 1 and 0 <= r["exact"] <= 1 and 0 <= r["zero_spread"] <= 1
        assert r["kl"] is not None and r["kl"] >= 0  # measured on every episode when written down
    assert [(r["when"], r["split"]) for r in evals] == [
        ("before", "eval"), ("before", "general"), ("after", "eval"), ("after", "general")
    ]  # fmt: skip


def test_metrics_file_gets_every_epoch_then_every_episode(trained):
    d, _ = trained
    epochs, episodes, evals = metrics_rows(d / "metrics.jsonl")
    assert [r["epoch"] for r in epochs] == [1, 2]
    check_rl_rows(episodes, evals, 4)


def test_rl_command_writes_metrics(trained):
    d, _ = trained
    ok(d, "rl", "--loadCheckpoint=model.bin", "--savePath=m.bin", "--metricsFile=rl.jsonl", *SHORT_RL)
    epochs, episodes, evals = metrics_rows(d / "rl.jsonl")
    assert epochs == []
    check_rl_rows(episodes, evals, 4)


def test_rl_on_a_bpe_checkpoint(tmp_path):
    (tmp_path / "copy.txt").write_text(ok(tmp_path, "tasks", "--task=copy", "--n=300").stdout)
    ok(
        tmp_path, "train", "--useBPE=true", "--bpeVocabSize=300", "--trainingFile=copy.txt", *TINY, "--epochs=2",
        "--savePath=bpe.bin", "--genLength=0",
    )  # fmt: skip
    p = ok(tmp_path, "rl", "--loadCheckpoint=bpe.bin", "--rlTask=copy", *SHORT_RL)
    assert "bpe vocabulary" in p.stdout
    assert re.search(rf"^After RL: {EVAL_LINE}$", p.stdout, re.MULTILINE)
    ck = rnnpy.load_checkpoint(tmp_path / "bpe.bin")  # saved over the loaded one
    assert ck.metadata["rl"]["task"] == "copy" and ck.metadata["rnnpy"]["vocab"]["type"] == "bpe"
    g = ok(tmp_path, "generate", "--loadCheckpoint=bpe.bin", "--prompt=\nabc:", "--temperature=0", "--genLength=4")
    assert "Generated (4 tokens)" in g.stdout
