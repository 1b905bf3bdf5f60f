"""Saving safely on a real file system (issues 15 and 16): no stray
temporaries, messages about the user's path, symlinks written through,
nothing but regular files replaced, output paths checked before the work,
the user's umask, and nothing written that cannot be read back."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import rnnpy
from cli_run import SMALL, assert_clean_error, run, stray_temporaries
from rnnpy.rl.splits import corpus_lines
from rnnpy.rl.tasks import get_task
from rnnpy.tokenizer import BPETokenizer


@pytest.fixture
def model():
    cfg = rnnpy.ModelConfig(vocab_size=12, embed_size=8, hidden_size=8, num_heads=2, num_experts=2)
    return rnnpy.Model(cfg, seed=1)


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid  # reaped: no such process now


def test_stale_temporaries_of_killed_writers_are_removed_by_the_next_save(tmp_path, model):
    pid = dead_pid()
    stale = [f".model.bin.rnnpy-tmp-{pid}-0", f".model_epoch50.bin.rnnpy-tmp-{pid}-3", f".model.bin.tmp-{pid}"]
    for name in stale:  # the last: rnnpy 0.1.0's name
        (tmp_path / name).write_bytes(b"x" * 1000)
    old = time.time() - 3600
    os.utime(tmp_path / stale[1], (old, old))
    rnnpy.save_checkpoint(tmp_path / "model.bin", model)
    assert sorted(os.listdir(tmp_path)) == ["model.bin"]


def test_a_live_writers_temporary_is_left_alone(tmp_path, model):
    import fcntl

    name = tmp_path / f".other.bin.rnnpy-tmp-{os.getpid()}-999999"
    with open(name, "wb") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a writer in progress holds it
        old = time.time() - 3600
        os.utime(name, (old, old))
        rnnpy.save_checkpoint(tmp_path / "model.bin", model)
        assert name.exists()
    rnnpy.save_checkpoint(tmp_path / "model.bin", model)  # its writer is done with it: now it is stale
    assert not name.exists()


def test_a_failed_save_names_the_users_path_not_a_temporary(tmp_path, model):
    (tmp_path / "file.txt").write_text("not a folder")
    for save in (lambda p: rnnpy.save_checkpoint(p, model), lambda p: BPETokenizer.train("abc abc").save(p)):
        with pytest.raises(OSError) as e:
            save(tmp_path / "file.txt" / "out.bin")
        msg = str(e.value)
        assert "file.txt/out.bin" in msg and "rnnpy-tmp" not in msg and ".tmp" not in msg and "Errno" not in msg, msg
    assert stray_temporaries(tmp_path) == []


def test_output_paths_are_checked_before_training(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "folder").mkdir()
    for args, fragment in [
        (["--savePath=file.txt/m.bin"], "--savePath"),
        (["--savePath=folder"], "folder"),
        (["--savePath="], "--savePath is empty"),
        (["--savePath=", "--saveEvery=1"], "--savePath is empty"),
        (["--useBPE=true", "--bpeSavePath=file.txt/t.json"], "--bpeSavePath"),
        (["--trainBPE=true", "--bpeSavePath=folder"], "--bpeSavePath"),
    ]:
        p = run(tmp_path, "train", *SMALL, "--epochs=3", *args)
        assert_clean_error(p, fragment)
        assert "Training" not in p.stdout and "BPE" not in p.stdout
    assert sorted(os.listdir(tmp_path)) == ["file.txt", "folder"]  # no ./_epoch1 either
    p = run(tmp_path, "tokenizer", "train", "--text=abc abc", "--output=folder")
    assert_clean_error(p, "--output", "folder")


def test_rl_checks_its_output_before_rl_and_creates_missing_folders(tmp_path):
    corpus = "\n" + "\n".join(corpus_lines(get_task("copy"), 200)) + "\n"
    assert run(tmp_path, "train", "--hiddenSize=8", "--embedSize=8", "--numHeads=2", "--fastMode=true",
               f"--trainingText={corpus}", "--epochs=1", "--savePath=m.bin", "--genLength=0").returncode == 0  # fmt: skip
    (tmp_path / "file.txt").write_text("x")
    p = run(tmp_path, "rl", "--loadCheckpoint=m.bin", "--savePath=file.txt/rl.bin", "--rlEpisodes=1")
    assert_clean_error(p, "--savePath")
    assert "RL (GRPO)" not in p.stdout
    p = run(tmp_path, "rl", "--loadCheckpoint=m.bin", "--savePath=new/dir/rl.bin", "--rlEpisodes=1",
            "--rlEvalPrompts=2", "--rlPrompts=2", "--rlGroupSize=2")  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert rnnpy.load_checkpoint(tmp_path / "new/dir/rl.bin").metadata["rl"]["episodes"] == 1


def test_a_symlinked_save_path_is_written_through(tmp_path, model):
    (tmp_path / "real").mkdir()
    rnnpy.save_checkpoint(tmp_path / "real/model.bin", model)
    (tmp_path / "link.bin").symlink_to("real/model.bin")
    model.set_parameters({"output_norm": np.full(8, 2.0, np.float32)})
    rnnpy.save_checkpoint(tmp_path / "link.bin", model)
    assert (tmp_path / "link.bin").is_symlink()
    assert rnnpy.load_checkpoint(tmp_path / "real/model.bin").model.parameters()["output_norm"][0] == 2.0
    assert stray_temporaries(tmp_path) == stray_temporaries(tmp_path / "real") == []


def test_only_regular_files_are_replaced(tmp_path, model):
    os.mkfifo(tmp_path / "fifo")
    targets = [tmp_path / "fifo", tmp_path]
    if os.geteuid() == 0:  # a private /dev/null: as root the old code replaced the real one
        os.mknod(tmp_path / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        targets.append(tmp_path / "null")
    for target in targets:
        kind = os.stat(target).st_mode
        with pytest.raises(OSError, match="not a regular file"):
            rnnpy.save_checkpoint(target, model)
        assert os.stat(target).st_mode == kind
    assert_clean_error(run(tmp_path, "train", *SMALL, "--savePath=fifo"), "--savePath", "FIFO")


def test_concurrent_saves_to_one_path_all_succeed(tmp_path, model):
    errors = []

    def save():
        for _ in range(20):
            try:
                rnnpy.save_checkpoint(tmp_path / "m.bin", model)
            except Exception as e:
                errors.append(e)

    threads = [threading.Thread(target=save) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == [] and sorted(os.listdir(tmp_path)) == ["m.bin"]


def test_files_get_the_users_umask_and_keep_their_mode(tmp_path, model):
    old = os.umask(0o022)
    try:
        rnnpy.save_checkpoint(tmp_path / "m.bin", model)
        BPETokenizer.train("abc abc abd").save(tmp_path / "t.json")
        assert stat.S_IMODE(os.stat(tmp_path / "m.bin").st_mode) == 0o644
        assert stat.S_IMODE(os.stat(tmp_path / "t.json").st_mode) == 0o644
        os.chmod(tmp_path / "m.bin", 0o600)
        rnnpy.save_checkpoint(tmp_path / "m.bin", model)
        assert stat.S_IMODE(os.stat(tmp_path / "m.bin").st_mode) == 0o600
    finally:
        os.umask(old)


def test_metadata_that_is_not_strict_json_is_refused_before_writing(tmp_path, model):
    rnnpy.save_checkpoint(tmp_path / "m.bin", model, metadata={"epoch": 1})
    good = (tmp_path / "m.bin").read_bytes()
    for bad in ({"loss": float("nan")}, {"rl": {"after": {"exact": float("inf")}}}, [1, 2]):
        with pytest.raises(rnnpy.MetadataError):
            rnnpy.save_checkpoint(tmp_path / "m.bin", model, metadata=bad)
    assert (tmp_path / "m.bin").read_bytes() == good


@pytest.mark.parametrize(
    "option", ["--gradClip=inf", "--rlLearningRate=inf", "--temperature=inf", "--weightDecay=inf", "--learningRate=nan"]
)
def test_options_that_cannot_be_meaningful_are_usage_errors(tmp_path, option):
    assert_clean_error(run(tmp_path, "train", *SMALL, "--epochs=1", "--savePath=m.bin", option), option.split("=")[0])
    assert not (tmp_path / "m.bin").exists()


def test_a_prompt_that_is_not_utf8_is_a_usage_error(tmp_path):
    p = subprocess.run([*__import__("cli_run").RNNPY, "generate", "--loadCheckpoint=m.bin", b"--prompt=ab\x80c"],
                       cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert_clean_error(p, "--prompt", "UTF-8")


def test_a_huge_stored_optimizer_step_keeps_the_model_finite(model):
    trainer = rnnpy.Trainer(model)
    _, m, v = trainer.state()
    trainer.set_state(2**64 - 1, m, v)
    x = np.arange(12).reshape(2, 6) % 12
    trainer.step(x, (x + 1) % 12)
    assert model.is_finite()


@contextlib.contextmanager
def on_tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """`folder` as a tiny file system of its own (a full disk, a read-only one), unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, check=False)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({p.stderr.decode().strip()})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_full_disk_fails_cleanly_and_keeps_the_old_file(tmp_path, model):
    with on_tmpfs(tmp_path / "disk", "size=256k") as disk:
        rnnpy.save_checkpoint(disk / "m.bin", model)
        good = (disk / "m.bin").read_bytes()
        big = rnnpy.Model(rnnpy.ModelConfig(vocab_size=12, embed_size=8, hidden_size=64, num_heads=2), seed=0)
        with pytest.raises(OSError, match="no space left on the device") as e:
            rnnpy.save_checkpoint(disk / "m.bin", big)
        assert "rnnpy-tmp" not in str(e.value)
        assert (disk / "m.bin").read_bytes() == good and stray_temporaries(disk) == []
        p = run(disk, "train", "--hiddenSize=64", "--epochs=1", "--savePath=m.bin", "--genLength=0")
        assert_clean_error(p, "m.bin", "no space left")
        assert (disk / "m.bin").read_bytes() == good and stray_temporaries(disk) == []


def test_a_read_only_folder_fails_before_the_work(tmp_path, model):
    with on_tmpfs(tmp_path / "ro", "size=1m") as disk:
        rnnpy.save_checkpoint(disk / "m.bin", model)
        good = (disk / "m.bin").read_bytes()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        with pytest.raises(OSError, match="read-only"):
            rnnpy.save_checkpoint(disk / "m.bin", model)
        p = run(tmp_path, "train", *SMALL, "--epochs=1", "--savePath=ro/m.bin")
        assert_clean_error(p, "--savePath", "read-only")
        assert "Training" not in p.stdout and (disk / "m.bin").read_bytes() == good
