"""The typed Python face of the model: converts arrays, then calls the Rust
core (which checks them and releases the GIL for the numerical work)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from rnnpy import _core
from rnnpy._arrays import float_array, token_array, token_list
from rnnpy.errors import InputError

ModelConfig = _core.ModelConfig
RecurrentState = _core.RecurrentState
GRPOStats = _core.GrpoStats
FloatArray = npt.NDArray[np.float32]
#: ModelConfig's fields, in its constructor's order (what config.json and `info` list).
CONFIG_FIELDS = (
    "vocab_size", "embed_size", "hidden_size", "num_layers", "num_heads",
    "num_experts", "top_k", "fast_mode", "use_rwkv",
)  # fmt: skip


class Completion(NamedTuple):
    """One sampled completion: its token ids and `log π(token)` of each under
    the policy at temperature 1 (whatever temperature it was sampled at)."""

    tokens: list[int]
    log_probs: list[float]


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

    def copy(self) -> Model:
        """An independent model with the same parameters."""
        return Model.from_core(self._core.copy())

    def is_finite(self) -> bool:
        """Whether every parameter is finite (a diverged run leaves NaN or infinity)."""
        return self._core.is_finite()

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

    def loss(self, inputs: object, targets: object, state: RecurrentState | None = None) -> float:
        """Mean cross-entropy (nats) over all B·T positions. With `state`
        (from `new_state(B)`), sequence b continues row b of it and the state
        advances to the end: a long text scored window by window, exactly."""
        x, y = token_array(inputs, "inputs"), token_array(targets, "targets")
        if state is not None:
            return float(self._core.loss_from(x, y, state))
        loss, _ = self._core.loss_and_grad(x, y, False)
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

    def generate(
        self,
        prompt: Sequence[int],
        length: int,
        temperature: float = 0.8,
        seed: int = 0,
        top_k: int = 0,
        top_p: float = 1.0,
    ) -> list[int]:
        """Feeds `prompt` once, then samples `length` ids (temperature 0:
        argmax; only the `top_k` most likely ids, 0 = all; only the fewest
        most likely whose probability reaches `top_p`, 1 = all)."""
        _check_counts(length, top_k)
        return list(self._core.generate(token_list(prompt, "prompt"), length, temperature, seed, top_k, top_p))

    def stream(
        self,
        prompt: Sequence[int],
        length: int,
        temperature: float = 0.8,
        seed: int = 0,
        top_k: int = 0,
        top_p: float = 1.0,
    ) -> Iterator[int]:
        """`generate`'s ids one at a time, as they are drawn (the same ids for
        the same seed). The prompt is checked and fed before this returns."""
        _check_counts(length, top_k)
        tokens = _core.TokenStream(self._core, token_list(prompt, "prompt"), temperature, seed, top_k, top_p)

        def ids() -> Iterator[int]:
            for _ in range(length):
                yield from tokens.next(1)

        return ids()

    # -- reinforcement learning (rnnpy.rl) ------------------------------------

    def sample_groups(
        self,
        prompts: Sequence[Sequence[int]],
        group_size: int,
        max_len: int,
        stop_ids: Sequence[int],
        temperature: float = 1.0,
        seed: int = 0,
    ) -> list[Completion]:
        """`group_size` completions per prompt, prompt-major (completion
        `p·G + j` belongs to prompt `p`), each prompt fed once from zero state;
        a completion ends after a stop id or at `max_len` tokens. Seeded; GIL released."""
        ids = [token_list(p, "prompt") for p in prompts]
        out = _core.rl_sample_groups(
            self._core, ids, group_size, max_len, token_list(stop_ids, "stop_ids"), temperature, seed
        )
        return [Completion(list(t), list(lp)) for t, lp in out]

    def token_log_probs(self, sequences: object, temperature: float = 1.0) -> FloatArray:
        """`log π(seq[n, t] | seq[n, < t])` for sequences `[N, T]` (column 0 is
        0), from `softmax(logits / temperature)`: the distribution sampled at
        that temperature."""
        return _core.rl_token_log_probs(self._core, token_array(sequences, "sequences"), temperature)

    def grpo_loss_and_grad(
        self, batch: GRPOBatch, clip: float = 0.2, kl_beta: float = 0.0, temperature: float = 1.0
    ) -> tuple[GRPOStats, dict[str, FloatArray]]:
        """The clipped GRPO loss of `batch` (see `Trainer.grpo_step`), its
        statistics and the gradient of every parameter, without an update."""
        stats, grads = _core.rl_loss_and_grad(self._core, batch.core, clip, kl_beta, temperature)
        return stats, dict(grads)


class GRPOBatch:
    """Sequences `[N, T]` (prompt + completion, right-padded), a mask `[N, T]`
    that is 1 at the completion tokens the loss covers, their log-probs when
    sampled `[N, T]`, one advantage per sequence `[N]` and, for a KL penalty,
    the reference policy's log-probs `[N, T]`. Copied into the core once (an
    update can reuse it); the core checks shapes and values when it is used."""

    def __init__(
        self,
        sequences: object,
        mask: object,
        old_log_probs: object,
        advantages: object,
        ref_log_probs: object | None = None,
    ) -> None:
        ref = None if ref_log_probs is None else float_array(ref_log_probs, "ref_log_probs")
        self._core = _core.GrpoBatch(
            token_array(sequences, "sequences"),
            float_array(mask, "mask"),
            float_array(old_log_probs, "old_log_probs"),
            float_array(advantages, "advantages"),
            ref,
        )

    @property
    def core(self) -> _core.GrpoBatch:
        """The raw binding, for Model.grpo_loss_and_grad and Trainer.grpo_step."""
        return self._core


def _check_counts(length: int, top_k: int) -> None:
    """The core takes these unsigned: a negative one is named here rather than as an overflow."""
    if length < 0:
        raise InputError(f"length must be non-negative, got {length}")
    if top_k < 0:
        raise InputError(f"top_k must be non-negative (0 keeps every token), got {top_k}")
