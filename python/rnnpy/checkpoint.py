"""Checkpoints in the old program's bincode format (spec/CHECKPOINT.md).

Reading validates every size and refuses non-finite weights (a diverged
run's) unless asked; writing checks the same, then is atomic (a temporary
file, read back, then renamed over the target), so what is written can be
read back. Metadata is strict, compact JSON with sorted keys, as the old
program wrote it: NaN and Infinity are not JSON, and are refused.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rnnpy import _core
from rnnpy.errors import CheckpointError, MetadataError
from rnnpy.model import Model, ModelConfig
from rnnpy.trainer import Trainer

__all__ = ["Checkpoint", "CheckpointError", "encode_metadata", "load_checkpoint", "save_checkpoint"]


def encode_metadata(metadata: dict[str, Any] | None) -> str | None:
    """Compact JSON with sorted keys (the old program's form). MetadataError
    when it is not a JSON object of strict JSON values (no NaN or Infinity)."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise MetadataError(f"checkpoint metadata must be a JSON object (a dict), not {type(metadata).__name__}")
    try:
        return json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as e:  # NaN or infinity somewhere
        raise MetadataError(f"checkpoint metadata {_non_finite(metadata)} is not finite: {e}") from None
    except (TypeError, RecursionError) as e:
        raise MetadataError(f"checkpoint metadata is not JSON: {e}") from None


def _non_finite(value: object, where: str = "") -> str:
    """The key path of the first NaN or infinity in `value` ("loss", "rl.after.exact")."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "value"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        found = _non_finite(v, f"{where}.{k}" if where else str(k))
        if found:
            return found
    return ""


@dataclass
class Checkpoint:
    path: str
    model: Model
    config: ModelConfig
    optimizer_step: int
    metadata: dict[str, Any] | None
    version: str
    timestamp: str
    param_m: npt.NDArray[np.float32]
    param_v: npt.NDArray[np.float32]
    metadata_text: str | None  # exactly as stored, for byte-identical rewrites

    def trainer(self, learning_rate: float = 1e-3, weight_decay: float = 0.01, grad_clip: float = 1.0) -> Trainer:
        """A trainer for `self.model` with AdamW's moments and step restored."""
        t = Trainer(self.model, learning_rate, weight_decay, grad_clip)
        t.set_state(self.optimizer_step, self.param_m, self.param_v)
        return t

    def save(self, path: str | os.PathLike[str], allow_non_finite: bool = False) -> None:
        """Writes this checkpoint back unchanged (identical bytes for an unchanged model)."""
        _core.write_checkpoint(
            os.fspath(path),
            self.model.core,
            self.optimizer_step,
            self.param_m,
            self.param_v,
            self.metadata_text,
            self.version,
            self.timestamp,
            allow_non_finite,
        )


def load_checkpoint(path: str | os.PathLike[str], allow_non_finite: bool = False) -> Checkpoint:
    """Reads a checkpoint written by rnnpy or the old program.

    Raises CheckpointError (a ValueError) naming the file when it is missing,
    not a regular file, truncated, foreign or inconsistent, or holds
    non-finite weights (unless `allow_non_finite`, to inspect a diverged run).
    """
    p = os.fspath(path)
    if os.path.isdir(p):  # most likely an export: say how to get a checkpoint from it
        raise CheckpointError(
            f"checkpoint '{p}' is a directory, not a checkpoint file "
            f"(an export directory becomes one with: python -m rnnpy import {p} -o CHECKPOINT)"
        )
    rec = _core.read_checkpoint(p, allow_non_finite)  # the core checks sizes and that the metadata is JSON
    text = rec.metadata
    return Checkpoint(
        path=p,
        model=Model.from_core(rec.model()),
        config=rec.config,
        optimizer_step=rec.optimizer_step,
        metadata=None if text is None else json.loads(text),
        version=rec.version,
        timestamp=rec.timestamp,
        param_m=rec.param_m(),
        param_v=rec.param_v(),
        metadata_text=text,
    )


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Model,
    trainer: Trainer | None = None,
    metadata: dict[str, Any] | None = None,
    allow_non_finite: bool = False,
) -> None:
    """Writes `model` (and `trainer`'s AdamW state when given) atomically.

    Without a trainer the moments are zeros and the step is 0, which the old
    program also loads. Non-finite weights (a diverged model) raise
    CheckpointError unless `allow_non_finite`; a write that fails raises
    OSError naming `path` and leaves any file there as it was.
    """
    step, m, v = trainer.state() if trainer is not None else (0, None, None)
    if trainer is not None and trainer.model is not model:
        raise ValueError("the trainer belongs to a different model")
    text = encode_metadata(metadata)
    _core.write_checkpoint(os.fspath(path), model.core, step, m, v, text, None, None, allow_non_finite)
