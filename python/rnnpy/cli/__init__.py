"""``python -m rnnpy COMMAND [options]`` (also the ``rnnpy`` script).

Commands are modules with ``main(argv) -> int`` (or ``"module:function"``
entries naming another such function), found through COMMANDS; a later
command is one more entry. With no command (or options first) the
command is ``train``, so the old program's ``--name=value`` lines keep working.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, str | None] = {
    "train": "rnnpy.cli.train",
    "generate": "rnnpy.cli.generate",
    "tokenizer": "rnnpy.tokenizer.cli",
    "rl": "rnnpy.rl.cli:rl_command",
    "tasks": "rnnpy.rl.cli:tasks_command",
}

USAGE = """usage: python -m rnnpy COMMAND [options]

commands:
  train       train a model (the default command), save it, print a sample
  generate    sample text from a checkpoint: --loadCheckpoint=PATH [--prompt=TEXT]
  tokenizer   train|encode|decode with a BPE tokenizer
  rl          RL (GRPO) fine-tuning of a checkpoint: --loadCheckpoint=PATH --rlTask=copy|reverse|arithmetic
  tasks       print a task corpus for supervised training: --task=copy --n=5000 > copy.txt

`python -m rnnpy train --help` lists every option with its default;
`python -m rnnpy COMMAND --help` those of another command."""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    name = argv.pop(0) if argv and not argv[0].startswith("-") else "train"
    if name not in COMMANDS:
        print(f"rnnpy: error: unknown command {name!r} (expected one of {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    module = COMMANDS[name]
    if module is None:
        print(f"rnnpy {name}: error: not yet available in this version of rnnpy", file=sys.stderr)
        return 2
    module, _, function = module.partition(":")
    return int(getattr(importlib.import_module(module), function or "main")(argv) or 0)
