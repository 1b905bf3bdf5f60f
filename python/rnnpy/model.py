"""The typed Python face of the model: validates arrays, then calls the Rust core
(which releases the GIL for the numerical work)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from rnnpy import _core
from rnnpy._arrays import float_array, token_array

ModelConfig = _core.ModelConfig
RecurrentState = _core.RecurrentState


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
            raise ValueError(f"seed must be non-negative, got {seed}")
        self._core = _core.Model(config, seed)

    @classmethod
    def _wrap(cls, core: _core.Model) -> Model:
        m = cls.__new__(cls)
        m._core = core
        return m

    @property
    def config(self) -> ModelConfig:
        return self._core.config

    @property
    def num_parameters(self) -> int:
        return self.config.num_parameters()

    def __repr__(self) -> str:
        return f"Model({self.config!r}, parameters={self.num_parameters:,})"

    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, by MODEL.md name, in checkpoint order."""
        return dict(self._core.parameters())

    def set_parameters(self, params: Mapping[str, object]) -> None:
        """Replaces any subset of parameters. Unknown names and wrong shapes
        raise ValueError before anything is changed."""
        shapes = dict(self.config.param_shapes())
        checked = {}
        for name, value in params.items():
            if name not in shapes:
                raise ValueError(f"unknown parameter '{name}'")
            checked[name] = float_array(value, f"parameter '{name}'", tuple(shapes[name]))
        for name, value in checked.items():
            self._core.set_parameter(name, value.reshape(-1))

    def _tokens(self, x: object, name: str) -> np.ndarray:
        return token_array(x, name, self.config.vocab_size)

    def _pair(self, inputs: object, targets: object) -> tuple[np.ndarray, np.ndarray]:
        i, t = self._tokens(inputs, "inputs"), self._tokens(targets, "targets")
        if i.shape != t.shape:
            raise ValueError(f"targets have shape {list(t.shape)}, inputs {list(i.shape)}")
        return i, t

    def logits(self, inputs: object) -> np.ndarray:
        """`inputs [B, T]` integer ids -> float32 logits `[B, T, V]`, from zero state."""
        return self._core.logits(self._tokens(inputs, "inputs"))

    def loss(self, inputs: object, targets: object) -> float:
        """Mean cross-entropy (nats) over all B·T positions."""
        loss, _ = self._core.loss_and_grad(*self._pair(inputs, targets), False)
        return float(loss)

    def loss_and_grad(self, inputs: object, targets: object) -> tuple[float, dict[str, np.ndarray]]:
        """The loss and its exact gradient for every parameter (full BPTT)."""
        loss, grads = self._core.loss_and_grad(*self._pair(inputs, targets), True)
        return float(loss), dict(grads)

    def new_state(self, batch: int = 1) -> RecurrentState:
        """Zero recurrent state for `batch` sequences."""
        return self._core.new_state(batch)

    def step(self, state: RecurrentState, tokens: Sequence[int]) -> np.ndarray:
        """Feeds one token per sequence and advances `state`; returns logits `[B, V]`."""
        ids = token_array(np.asarray(tokens).reshape(1, -1), "tokens", self.config.vocab_size)
        if ids.shape[1] != state.batch:
            raise ValueError(f"{ids.shape[1]} tokens given for a state of {state.batch} sequences")
        return self._core.step(state, ids.reshape(-1).tolist())

    def generate(self, prompt: Sequence[int], length: int, temperature: float = 0.8, seed: int = 0) -> list[int]:
        """Feeds `prompt` once, then samples `length` ids (temperature 0: argmax)."""
        if length < 0:
            raise ValueError(f"length must be non-negative, got {length}")
        if temperature < 0:
            raise ValueError(f"temperature must be non-negative, got {temperature}")
        ids = token_array(np.asarray(list(prompt)).reshape(1, -1), "prompt", self.config.vocab_size)
        return list(self._core.generate(ids.reshape(-1).tolist(), length, temperature, seed))
