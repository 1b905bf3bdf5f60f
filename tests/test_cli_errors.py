"""The CLI's one error boundary: rnnpy's errors for input it cannot use are
one line on stderr and exit status 2; anything else is a bug and shows its
traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

import rnnpy
import rnnpy.cli.tasks
from rnnpy.cli import USER_ERRORS, describe, main


def failing(error: BaseException):
    def run(args: object) -> int:
        raise error

    return run


@pytest.mark.parametrize(
    "error",
    [
        rnnpy.UsageError("bad line"),
        rnnpy.ConfigError("bad config"),
        rnnpy.CheckpointError("bad file"),
        rnnpy.MetadataError("bad metadata"),
        rnnpy.TokenizerError("bad tokenizer"),
        rnnpy.VocabularyError("bad text"),
        rnnpy.TaskError("bad task"),
        rnnpy.TextTooShortError("short text"),
        FileNotFoundError(2, "No such file or directory", "x.txt"),
    ],
)
def test_user_errors_are_one_line_and_status_2(error, monkeypatch, capsys):
    monkeypatch.setattr(rnnpy.cli.tasks, "run", failing(error))
    assert main(["tasks"]) == 2
    err = capsys.readouterr().err
    assert err == f"rnnpy tasks: error: {describe(error)}\n"
    assert "Errno" not in err and err.count("\n") == 1


def test_os_errors_name_the_path_in_words_without_an_errno():
    assert describe(FileNotFoundError(2, "No such file or directory", "x.txt")) == "'x.txt': no such file or directory"
    assert describe(PermissionError(13, "Permission denied", "/root/m.bin")) == "'/root/m.bin': permission denied"
    assert describe(OSError("'m.bin': cannot write: no space left on the device")).startswith("'m.bin'")


@pytest.mark.parametrize(
    "error",
    [KeyError("bug"), TypeError("bug"), ValueError("a bare ValueError is ours, not the user's"), rnnpy.InputError("x")],
)
def test_anything_else_is_a_bug_and_propagates(error, monkeypatch):
    assert not isinstance(error, USER_ERRORS)
    monkeypatch.setattr(rnnpy.cli.tasks, "run", failing(error))
    with pytest.raises(type(error)):
        main(["tasks"])


def test_ctrl_c_is_status_130(monkeypatch, capsys):
    monkeypatch.setattr(rnnpy.cli.tasks, "run", failing(KeyboardInterrupt()))
    assert main(["tasks"]) == 130
    assert "rnnpy tasks: interrupted" in capsys.readouterr().err


def test_a_bug_shows_its_traceback():
    code = (
        "import rnnpy.cli.tasks as t\n"
        "def run(args): raise KeyError('a bug')\n"
        "t.run = run\n"
        "from rnnpy.cli import main\n"
        "main(['tasks'])\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert p.returncode == 1 and "Traceback" in p.stderr and "KeyError: 'a bug'" in p.stderr


@pytest.mark.parametrize(
    "argv,message",
    [
        (["frobnicate"], "rnnpy: error: unknown command 'frobnicate'"),
        (["tokenizer", "frob"], "rnnpy tokenizer: error: unknown tokenizer command 'frob'"),
        (["rl", "--epochs=3", "--loadCheckpoint=m.bin"], "rnnpy rl: error: unknown option --epochs"),
        (["tasks", "--n=x"], "rnnpy tasks: error: option --n: expected an integer, got 'x'"),
    ],
)
def test_command_line_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_every_rnnpy_error_is_a_value_error():
    for name in rnnpy.errors.__all__:
        cls = getattr(rnnpy, name)
        assert issubclass(cls, rnnpy.RnnpyError) and issubclass(cls, ValueError), name
