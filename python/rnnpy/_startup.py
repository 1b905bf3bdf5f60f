"""A Ctrl-C while the command line starts (importing numpy and the core
takes a moment) ends the program quietly with status 130, not with a
KeyboardInterrupt traceback. ``rnnpy/__init__.py`` calls ``install`` first;
``rnnpy.cli.main`` restores the default handler as soon as it runs, and
nothing is written before then.

Only for the program itself (``python -m rnnpy``, the ``rnnpy`` script):
``import rnnpy`` in someone else's program changes nothing.
"""

import contextlib
import os
import signal
import sys


def is_rnnpy_program() -> bool:
    orig = getattr(sys, "orig_argv", [])  # Python 3.10+: the interpreter's own command line
    if orig[1:3] == ["-m", "rnnpy"]:
        return True
    return bool(sys.argv) and os.path.basename(sys.argv[0]) == "rnnpy"


def quit_starting(*_: object) -> None:
    sys.stderr.write("\nrnnpy: interrupted while starting (nothing was done)\n")
    sys.stderr.flush()
    os._exit(130)


def install() -> None:
    if is_rnnpy_program():
        with contextlib.suppress(ValueError):  # not the main thread: signals are not ours to catch
            signal.signal(signal.SIGINT, quit_starting)
