"""Data-parallel `train` under `mpiexec -n 2`: the same model as one process,
step for step; resuming on another number of ranks; Ctrl-C, a hung rank and
bad set-ups. (tests/test_distributed.py has the collectives themselves.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnnpy.checkpoint import load_checkpoint
from rnnpy.data_parallel import DataParallel
from rnnpy.distributed import Single
from rnnpy.errors import DistributedError
from rnnpy.model import Model, ModelConfig
from rnnpy.trainer import Trainer
from test_distributed import MPIEXEC, mpirun, needs_mpi

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "tinyshakespeare.txt"
SMALL = ["--hiddenSize=16", "--embedSize=8", "--numLayers=1", "--numExperts=2", "--topK=1", "--learningRate=0.01"]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A text of a few steps an epoch (the shared corpus when present, else a made-up one)."""
    path = tmp_path_factory.mktemp("text") / "text.txt"
    text = DATA.read_text(encoding="utf-8")[:6000] if DATA.exists() else "the quick brown fox jumps. " * 220
    path.write_text(text, encoding="utf-8")
    return path


def train_args(text: Path, save: Path, metrics: Path, *extra: str) -> list[str]:
    return [
        "-m", "rnnpy", "train", f"--trainingFile={text}", *SMALL, "--seed=3", "--batchSize=10",
        "--seqLength=32", "--genLength=0", f"--savePath={save}", f"--metricsFile={metrics}", *extra,
    ]  # fmt: skip


def one_process(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env)


def losses(metrics: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in metrics.read_text().splitlines() if "grad_norm" in line]


def flat_parameters(path: Path) -> np.ndarray:
    params = load_checkpoint(str(path)).model.parameters()
    return np.concatenate([p.ravel() for p in params.values()])


def assert_same_run(single: tuple[Path, Path], ranks: tuple[Path, Path]) -> None:
    """Same loss every epoch and the same weights, within float tolerance (sums in another order)."""
    a, b = losses(single[1]), losses(ranks[1])
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(b, a, rtol=2e-5)
    np.testing.assert_allclose(flat_parameters(ranks[0]), flat_parameters(single[0]), atol=2e-5)


@needs_mpi
@pytest.mark.parametrize("batching", ["shuffled", "stateful"])
def test_two_ranks_train_the_model_one_process_trains(tmp_path: Path, text_file: Path, batching: str) -> None:
    runs = {}
    for name in ("single", "ranks"):
        save, metrics = tmp_path / f"{name}.bin", tmp_path / f"{name}.jsonl"
        args = train_args(text_file, save, metrics, "--epochs=3", f"--batching={batching}")
        p = mpirun(2, *args) if name == "ranks" else one_process(*args, "--distributed=off")
        assert p.returncode == 0, p.stderr
        runs[name] = (save, metrics, p)
    out = runs["ranks"][2].stdout
    assert (
        out.count("Distributed: 2 MPI ranks on 1 host; global batch 10, 5 rows on rank 0") == 1
    )  # rank 0 alone prints
    assert out.count("Saved binary checkpoint") == 1 and "All-reduce:" in out
    assert "Distributed:" not in runs["single"][2].stdout
    assert_same_run(runs["single"][:2], runs["ranks"][:2])


@needs_mpi
@pytest.mark.parametrize(("first", "then"), [(2, 1), (1, 2)])
def test_a_checkpoint_resumes_on_another_number_of_ranks(
    tmp_path: Path, text_file: Path, first: int, then: int
) -> None:
    """Stopped mid-epoch by --maxSteps (stateful: the carried state of every row is saved),
    resumed on another number of ranks, it ends where an uninterrupted one-process run does."""
    common = ["--batching=stateful", "--epochs=3"]
    whole = (tmp_path / "whole.bin", tmp_path / "whole.jsonl")
    p = one_process(*train_args(text_file, *whole, *common), "--distributed=off")
    assert p.returncode == 0, p.stderr
    part = (tmp_path / "part.bin", tmp_path / "part.jsonl")

    def on(ranks: int, *args: str) -> subprocess.CompletedProcess[str]:
        return mpirun(ranks, *args) if ranks > 1 else one_process(*args, "--distributed=off")

    p = on(first, *train_args(text_file, *part, *common, "--maxSteps=4"))
    assert p.returncode == 0, p.stderr
    p = on(then, *train_args(text_file, *part, *common, f"--loadCheckpoint={part[0]}", "--maxSteps=0"))
    assert p.returncode == 0, p.stderr
    np.testing.assert_allclose(flat_parameters(part[0]), flat_parameters(whole[0]), atol=2e-5)


@needs_mpi
def test_ctrl_c_saves_once_and_every_rank_exits_130(tmp_path: Path, text_file: Path) -> None:
    save, metrics = tmp_path / "m.bin", tmp_path / "m.jsonl"
    assert MPIEXEC is not None
    cmd = [MPIEXEC, "-n", "2", sys.executable, *train_args(text_file, save, metrics, "--epochs=100000")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, RAYON_NUM_THREADS="1"))  # fmt: skip
    deadline = time.monotonic() + 60
    while not (metrics.exists() and len(losses(metrics)) >= 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C does to the launcher: it forwards SIGINT to every rank
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert out.count("Saved binary checkpoint") == 1 and "Traceback" not in err
    ck = load_checkpoint(str(save))
    assert ck.optimizer_step > 0


@needs_mpi
def test_a_hung_rank_is_named_and_the_checkpoint_stays_intact(tmp_path: Path, text_file: Path) -> None:
    save, metrics = tmp_path / "m.bin", tmp_path / "m.jsonl"
    args = train_args(text_file, save, metrics, "--epochs=50", "--saveEvery=1", "--distributedTimeout=3")
    t0 = time.monotonic()
    p = mpirun(2, str(HERE / "mpi" / "hang_rank.py"), "1", "3", *args[3:], timeout=90)
    assert p.returncode != 0 and time.monotonic() - t0 < 60
    assert "rank(s) 1 stopped responding" in p.stderr
    assert load_checkpoint(str(tmp_path / "m_epoch2.bin")).optimizer_step > 0  # written before the hang: intact


@needs_mpi
def test_a_batch_smaller_than_the_world_is_one_clear_error(tmp_path: Path, text_file: Path) -> None:
    p = mpirun(2, *train_args(text_file, tmp_path / "m.bin", tmp_path / "m.jsonl", "--batchSize=1"))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "--batchSize=1 is smaller than the 2 ranks" in p.stderr
    assert not (tmp_path / "m.bin").exists()


@needs_mpi
def test_ranks_started_with_different_options_are_refused(tmp_path: Path, text_file: Path) -> None:
    assert MPIEXEC is not None
    base = train_args(text_file, tmp_path / "m.bin", tmp_path / "m.jsonl", "--epochs=1")
    cmd = [MPIEXEC, "-n", "1", sys.executable, *base, ":", "-n", "1", sys.executable, *base, "--learningRate=0.02"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "rank(s) 1 started with different options than rank 0" in p.stderr


def test_diverged_ranks_stop_the_run() -> None:
    """The checksum comparison: a rank whose parameters differ is named."""

    class TwoRanks(Single):
        size = 2

        def gather(self, value: object) -> list[object]:
            return [value, float(value) + 1.0]  # type: ignore[arg-type]

    model = Model(ModelConfig(vocab_size=5, hidden_size=8, embed_size=4, num_layers=1), seed=1)
    parallel = DataParallel(Trainer(model, 0.01, 0.0, 1.0), TwoRanks(), batch_size=4)
    with pytest.raises(DistributedError, match=r"rank\(s\) 1 hold different parameters than rank 0"):
        parallel.verify()


def test_a_shard_step_in_one_process_is_the_plain_step() -> None:
    """One rank of one: the sharded step (gradient, all-reduce, apply) equals Trainer.step bit for bit."""
    cfg = ModelConfig(vocab_size=7, hidden_size=8, embed_size=4, num_layers=1)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 7, (3, 6)), rng.integers(0, 7, (3, 6))
    plain, sharded = Trainer(Model(cfg, seed=2), 0.01, 0.0, 1.0), Trainer(Model(cfg, seed=2), 0.01, 0.0, 1.0)
    parallel = DataParallel(sharded, Single(), batch_size=3)
    from rnnpy.batching import Batch

    for _ in range(3):
        want = plain.step(x, y)
        got = parallel.step(Batch(x, y), None, seconds=0.0, signalled=False)
        assert got == (pytest.approx(want.loss, rel=1e-6), want.grad_norm)
    for name, p in plain.model.parameters().items():
        np.testing.assert_array_equal(sharded.model.parameters()[name], p)


def test_mpi_asked_for_without_mpi4py_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], text_file: Path
) -> None:
    from rnnpy.cli import main

    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now fails
    assert main(["train", f"--trainingFile={text_file}", "--distributed=mpi", "--epochs=1"]) == 2
    err = capsys.readouterr().err
    assert "--distributed=mpi needs mpi4py" in err and 'pip install "rnnpy[mpi]"' in err
