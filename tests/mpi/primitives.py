"""Run under `mpiexec -n 2`: the collectives of rnnpy.distributed.Mpi. Each
rank writes what it saw to `OUT_DIR/rank{r}.json` (stdout of two ranks would
interleave); `tests/test_distributed.py` starts it and checks."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from rnnpy.distributed import DistributedError, Mpi, check_same, share

mode, out_dir = sys.argv[1], Path(sys.argv[2])
world = Mpi(timeout_s=float(sys.argv[3]) if len(sys.argv) > 3 else 60.0)
out: dict[str, object] = {"rank": world.rank, "size": world.size}
if mode == "collectives":
    buf = np.full(1000, world.rank + 1, dtype=np.float32)
    world.allreduce_sum(buf, step=1)
    out["sum"] = float(buf[0])
    out["loss"] = world.sum(0.25 * (world.rank + 1))
    out["any"] = world.any(world.rank == 1)
    out["none"] = world.any(False)
    out["share"] = share(7, world)
    out["root_value"] = world.broadcast(f"from {world.rank}")
    try:
        check_same(world, "options", "a" if world.rank == 0 else "b")
        out["mismatch"] = None
    except DistributedError as e:
        out["mismatch"] = str(e)
    check_same(world, "text", "same")
elif mode == "lost":
    # Rank 1 stops answering before the step; rank 0 must name it and abort.
    if world.rank == 1:
        time.sleep(120)
    buf = np.zeros(10, dtype=np.float32)
    world.allreduce_sum(buf, step=7)
(out_dir / f"rank{world.rank}.json").write_text(json.dumps(out))
