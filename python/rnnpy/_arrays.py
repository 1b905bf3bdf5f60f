"""Validation of user arrays before they reach the Rust core: clear ValueErrors
instead of dtype or shape surprises."""

from __future__ import annotations

import numpy as np


def token_array(x: object, name: str, vocab_size: int, ndim: int = 2) -> np.ndarray:
    """An integer array of `ndim` dimensions with ids in [0, vocab_size), as contiguous uint32."""
    a = np.asarray(x)
    if a.dtype == object or a.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array of token ids, got dtype {a.dtype}")
    if a.ndim != ndim:
        dims = "[B, T]" if ndim == 2 else "[N, B, T]" if ndim == 3 else f"{ndim}-D"
        raise ValueError(f"{name} must have shape {dims}, got shape {list(a.shape)}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {list(a.shape)})")
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name} contains token id {bad}, outside the vocabulary of {vocab_size}")
    return np.ascontiguousarray(a, dtype=np.uint32)


def float_array(x: object, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A float array of exactly `shape`, as contiguous float32."""
    a = np.asarray(x)
    if a.dtype == object or a.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a numeric array, got dtype {a.dtype}")
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(a.shape)}")
    return np.ascontiguousarray(a, dtype=np.float32)
