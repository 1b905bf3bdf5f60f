"""``python -m rnnpy``: see rnnpy.cli."""

import sys

from rnnpy.cli import main

if __name__ == "__main__":
    sys.exit(main())
