"""Kept so that ``python -m rnnpy.tokenizer.cli train|encode|decode ...`` still
works: the tokenizer commands live in ``rnnpy.cli`` (``python -m rnnpy tokenizer``)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from rnnpy.cli import main as rnnpy_main

    return rnnpy_main(["tokenizer", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
