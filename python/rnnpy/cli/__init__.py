"""``python -m rnnpy COMMAND [options]`` (also the ``rnnpy`` script).

One parser reads every command's options from one table
(``rnnpy.cli.options``); each command gets its typed arguments
(``rnnpy.cli.commands``). With no command (or options first) the command is
``train``, so the old program's ``--name=value`` lines keep working.

This is also the one error boundary: rnnpy's errors for input it cannot use
(``USER_ERRORS``) print as one line on stderr with exit status 2, Ctrl-C is
status 130, and anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence

from rnnpy.cli.commands import COMMANDS, GROUPS
from rnnpy.errors import (
    CheckpointError,
    ConfigError,
    DistributedError,
    DivergenceError,
    ExportError,
    MemoryLimitError,
    MetricsError,
    MissingDependencyError,
    TaskError,
    TextTooShortError,
    TokenizerError,
    UsageError,
    VocabularyError,
)

#: What the user can cause: a bad command line, model configuration, file,
#: text or task, a model too large for the machine, a run that diverged, a
#: distributed set-up, an optional package not installed — and OSError, for
#: the files and streams the user named. rnnpy.InputError is not here: the CLI
#: builds every array itself, so one reaching this boundary is a bug.
USER_ERRORS = (
    UsageError,
    ConfigError,
    CheckpointError,
    TokenizerError,
    VocabularyError,
    TaskError,
    TextTooShortError,
    MemoryLimitError,
    DivergenceError,
    DistributedError,
    ExportError,
    MetricsError,
    MissingDependencyError,
    OSError,
)


def describe(e: BaseException) -> str:
    """One sentence: an OSError of Python's own (``[Errno 2] No such file or
    directory: 'x'``) as ``'x': no such file or directory``; the rest as they say."""
    if isinstance(e, OSError) and e.strerror and e.filename is not None:
        name = os.fsdecode(e.filename) if isinstance(e.filename, (str, bytes)) else str(e.filename)
        return f"'{name}': {e.strerror[:1].lower()}{e.strerror[1:]}"
    return str(e)


def usage() -> str:
    rows = [(name, c.summary) for name, c in COMMANDS.items() if " " not in name] + list(GROUPS.items())
    width = max(len(n) for n, _ in rows) + 2
    lines = ["usage: python -m rnnpy COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<{width}}{summary}" for name, summary in rows]
    lines += ["", "`python -m rnnpy COMMAND --help` lists the options of a command, with their defaults."]
    return "\n".join(lines)


def group_usage(group: str) -> str:
    subs = {name.split(" ", 1)[1]: c for name, c in COMMANDS.items() if name.startswith(group + " ")}
    lines = [f"usage: python -m rnnpy {group} {'|'.join(subs)} [options]", "", f"{group} commands:"]
    lines += [f"  {name:<10}{c.summary}" for name, c in subs.items()]
    return "\n".join(lines + ["", f"`python -m rnnpy {group} COMMAND --help` lists its options."])


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name = args.pop(0) if args and not args[0].startswith("-") else "train"
    prog = f"rnnpy {name}" if name in COMMANDS or name in GROUPS else "rnnpy"
    try:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)  # start-up's quiet exit (rnnpy._startup) ends here
        from rnnpy.cli.parser import build, help_text, parse

        if name in GROUPS:
            if not args or args[0] in ("-h", "--help"):
                print(group_usage(name), file=sys.stdout if args else sys.stderr)
                return 0 if args else 2
            sub = args.pop(0)
            if f"{name} {sub}" not in COMMANDS:
                raise UsageError(f"unknown {name} command {sub!r} (see `python -m rnnpy {name} --help`)")
            name = f"{name} {sub}"
        if name not in COMMANDS:
            known = [c for c in COMMANDS if " " not in c] + list(GROUPS)
            raise UsageError(f"unknown command {name!r} (expected one of {', '.join(known)})")
        if any(a in ("-h", "--help") for a in args):
            print(help_text(name))
            return 0
        command = COMMANDS[name]
        return command.run(build(command.args, parse(args, name)))
    except BrokenPipeError:  # stdout closed early (`| head`): not an error, and nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except USER_ERRORS as e:
        print(f"{prog}: error: {describe(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted (nothing saved)", file=sys.stderr)
        return 130
