"""Checkpoints in the old program's bincode format (spec/CHECKPOINT.md).

Reading validates every size; writing is atomic (temporary file + rename).
Metadata is compact JSON with sorted keys, as the old program wrote it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rnnpy import _core
from rnnpy.errors import CheckpointError
from rnnpy.model import Model, ModelConfig
from rnnpy.trainer import Trainer

__all__ = ["Checkpoint", "CheckpointError", "encode_metadata", "load_checkpoint", "save_checkpoint"]


def encode_metadata(metadata: dict[str, Any] | None) -> str | None:
    """Compact JSON with sorted keys (the old program's form)."""
    if metadata is None:
        return None
    return json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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

    def save(self, path: str | os.PathLike[str]) -> None:
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
        )


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Reads a checkpoint written by rnnpy or the old program.

    Raises CheckpointError (a ValueError) naming the file when it is missing,
    truncated, foreign or inconsistent.
    """
    p = os.fspath(path)
    if os.path.isdir(p):  # most likely an export: say how to get a checkpoint from it
        raise CheckpointError(
            f"checkpoint '{p}' is a directory, not a checkpoint file "
            f"(an export directory becomes one with: python -m rnnpy import {p} -o CHECKPOINT)"
        )
    rec = _core.read_checkpoint(p)  # the core checks sizes and that the metadata is JSON
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
) -> None:
    """Writes `model` (and `trainer`'s AdamW state when given) atomically.

    Without a trainer the moments are zeros and the step is 0, which the old
    program also loads.
    """
    step, m, v = trainer.state() if trainer is not None else (0, None, None)
    if trainer is not None and trainer.model is not model:
        raise ValueError("the trainer belongs to a different model")
    _core.write_checkpoint(os.fspath(path), model.core, step, m, v, encode_metadata(metadata), None, None)
