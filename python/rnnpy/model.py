"""The typed Python face of the model: converts arrays, then calls the Rust
core (which checks them and releases the GIL for the numerical work)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from rnnpy import _core
from rnnpy._arrays import float_array, token_array, token_list
from rnnpy.errors import InputError

ModelConfig = _core.ModelConfig
RecurrentState = _core.RecurrentState
FloatArray = npt.NDArray[np.float32]


class Model:
    """The GRU + RWKV + MoE language model of spec/MODEL.md.

    >>> cfg = ModelConfig(vocab_size=20)
    >>> model = Model(cfg, seed=0)
    >>> model.logits(np.zeros((1, 5), dtype=np.int64)).shape
    (1, 5, 20)
    """

    def __init__(self, config: ModelConfig, seed: int = 0) -> None:
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be an rnnpy.ModelConfig, got {type(config).__name__}")
        if seed < 0:
            raise InputError(f"seed must be non-negative, got {seed}")
        self._core = _core.Model(config, seed)

    @classmethod
    def from_core(cls, core: _core.Model) -> Model:
        """Wraps a raw `rnnpy._core.Model` (what the checkpoint reader builds)."""
        m = cls.__new__(cls)
        m._core = core
        return m

    @property
    def core(self) -> _core.Model:
        """The raw binding this wraps, for the package's Trainer and checkpoint writer."""
        return self._core

    @property
    def config(self) -> ModelConfig:
        return self._core.config

    @property
    def num_parameters(self) -> int:
        return self.config.num_parameters()

    def __repr__(self) -> str:
        return f"Model({self.config!r}, parameters={self.num_parameters:,})"

    def parameters(self) -> dict[str, FloatArray]:
        """Copies of every parameter, by MODEL.md name, in checkpoint order."""
        return dict(self._core.parameters())

    def set_parameters(self, params: Mapping[str, object]) -> None:
        """Replaces any subset of parameters. Unknown names and wrong shapes
        raise InputError before anything is changed."""
        self._core.set_parameters({name: float_array(v, f"parameter '{name}'") for name, v in params.items()})

    def logits(self, inputs: object) -> FloatArray:
        """`inputs [B, T]` integer ids -> float32 logits `[B, T, V]`, from zero state."""
        return self._core.logits(token_array(inputs, "inputs"))

    def loss(self, inputs: object, targets: object) -> float:
        """Mean cross-entropy (nats) over all B·T positions."""
        loss, _ = self._core.loss_and_grad(token_array(inputs, "inputs"), token_array(targets, "targets"), False)
        return float(loss)

    def loss_and_grad(self, inputs: object, targets: object) -> tuple[float, dict[str, FloatArray]]:
        """The loss and its exact gradient for every parameter (full BPTT)."""
        loss, grads = self._core.loss_and_grad(token_array(inputs, "inputs"), token_array(targets, "targets"), True)
        return float(loss), dict(grads or {})

    def new_state(self, batch: int = 1) -> RecurrentState:
        """Zero recurrent state for `batch` sequences."""
        return self._core.new_state(batch)

    def step(self, state: RecurrentState, tokens: npt.ArrayLike) -> FloatArray:
        """Feeds one token per sequence and advances `state`; returns logits `[B, V]`."""
        return self._core.step(state, token_list(tokens, "tokens"))

    def generate(self, prompt: Sequence[int], length: int, temperature: float = 0.8, seed: int = 0) -> list[int]:
        """Feeds `prompt` once, then samples `length` ids (temperature 0: argmax)."""
        if length < 0:
            raise InputError(f"length must be non-negative, got {length}")
        return list(self._core.generate(token_list(prompt, "prompt"), length, temperature, seed))
