"""Run under `mpiexec`: `python hang_rank.py RANK EPOCH TRAIN-OPTIONS...` is
`python -m rnnpy train TRAIN-OPTIONS...` where rank RANK stops responding
(sleeps) after epoch EPOCH — a hung machine, as the other ranks see it."""

from __future__ import annotations

import sys
import time

from rnnpy.cli import main
from rnnpy.cli.train_log import RunLog
from rnnpy.distributed import Mpi
from rnnpy.progress import EpochResult

hung_rank, hung_epoch = int(sys.argv[1]), int(sys.argv[2])
on_epoch = RunLog.on_epoch


def hang_after(log: RunLog, e: EpochResult) -> None:
    on_epoch(log, e)
    if log.run.world.rank == hung_rank and e.epoch == hung_epoch:
        time.sleep(3600)


if __name__ == "__main__":
    assert Mpi().size > 1
    RunLog.on_epoch = hang_after  # type: ignore[method-assign]
    sys.exit(main(["train", *sys.argv[3:]]))
