"""``python -m rnnpy tasks``: a corpus of solved task examples, one per line,
for supervised training before RL.

    python -m rnnpy tasks --task=copy --n=5000 > copy.txt
"""

from __future__ import annotations

import sys

from rnnpy.cli.commands import TasksArgs
from rnnpy.cli.generate import resolve_seed
from rnnpy.rl.splits import iter_corpus_lines
from rnnpy.rl.tasks import get_task


def run(args: TasksArgs) -> int:
    out = sys.stdout
    for line in iter_corpus_lines(get_task(args.rl.task), args.tasks.n, resolve_seed(args.run)):
        out.write(line + "\n")
    return 0
