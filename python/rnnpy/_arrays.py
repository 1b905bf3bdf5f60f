"""Conversion of user arrays into what the Rust core takes (contiguous uint32
ids, float32 values). Only what the core cannot see is checked here — a
float or object dtype, a dimension count, a negative id (the core's ids are
unsigned); shapes, emptiness and the vocabulary range are the core's checks."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rnnpy.errors import InputError

_DIMS = {1: "[N]", 2: "[B, T]", 3: "[N, B, T]"}


def token_array(x: object, name: str, ndim: int = 2) -> npt.NDArray[np.uint32]:
    """An integer array of `ndim` dimensions and non-negative ids, as contiguous uint32."""
    a = np.asarray(x)
    if a.dtype == object or a.dtype.kind not in "iu":
        raise InputError(f"{name} must be an integer array of token ids, got dtype {a.dtype}")
    if a.ndim != ndim:
        raise InputError(f"{name} must have shape {_DIMS.get(ndim, f'{ndim}-D')}, got shape {list(a.shape)}")
    if a.size and a.dtype.kind == "i" and int(a.min()) < 0:
        raise InputError(f"{name} contains token id {int(a.min())}, outside the vocabulary")
    return np.ascontiguousarray(a, dtype=np.uint32)


def token_list(x: object, name: str) -> list[int]:
    """A sequence of token ids as a list of ints (checked as `token_array`)."""
    a = np.asarray(x).reshape(-1)
    return [] if a.size == 0 else [int(i) for i in token_array(a, name, 1)]


def float_array(x: object, name: str) -> npt.NDArray[np.float32]:
    """A numeric array as contiguous float32 (its shape is the core's check)."""
    a = np.asarray(x)
    if a.dtype == object or a.dtype.kind not in "fiu":
        raise InputError(f"{name} must be a numeric array, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)
