"""Type stub of the Rust extension (rust/src/python/). The documented API is
rnnpy.Model, rnnpy.Trainer and rnnpy.load_checkpoint / save_checkpoint; these
are the raw bindings under them. tests/test_core_stub.py keeps this file and
the built module in step."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__version__: str

class RnnpyError(ValueError):
    """Input that rnnpy cannot use; the message says what did not fit."""

class ConfigError(RnnpyError):
    """A model configuration that cannot describe a model."""

class InputError(RnnpyError):
    """Arrays, token ids or settings that do not fit the model or the call."""

class CheckpointError(RnnpyError):
    """A checkpoint file that is missing, truncated, foreign or inconsistent."""

class MemoryLimitError(RnnpyError):
    """Sizes that need more memory than the machine has (the message gives both); nothing was allocated."""

class ModelConfig:
    def __init__(
        self,
        vocab_size: int,
        embed_size: int = 16,
        hidden_size: int = 32,
        num_layers: int = 1,
        num_heads: int = 4,
        num_experts: int = 4,
        top_k: int = 1,
        fast_mode: bool = False,
        use_rwkv: bool = True,
    ) -> None: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def embed_size(self) -> int: ...
    @property
    def hidden_size(self) -> int: ...
    @property
    def num_layers(self) -> int: ...
    @property
    def num_heads(self) -> int: ...
    @property
    def num_experts(self) -> int: ...
    @property
    def top_k(self) -> int: ...
    @property
    def fast_mode(self) -> bool: ...
    @property
    def use_rwkv(self) -> bool: ...
    def num_parameters(self) -> int: ...
    def active_parameters(self) -> int: ...
    def training_bytes(self, batch_size: int, seq_length: int) -> int: ...
    def check_training_memory(self, batch_size: int, seq_length: int) -> None: ...
    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]: ...

class RecurrentState:
    @property
    def batch(self) -> int: ...
    def tensors(self) -> list[list[npt.NDArray[np.float32]]]: ...
    def set_tensors(self, tensors: list[list[npt.NDArray[np.float32]]]) -> None: ...

class Model:
    def __init__(self, config: ModelConfig, seed: int = 0) -> None: ...
    @property
    def config(self) -> ModelConfig: ...
    def copy(self) -> Model: ...
    def is_finite(self) -> bool: ...
    def parameters(self) -> dict[str, npt.NDArray[np.float32]]: ...
    def set_parameters(self, params: dict[str, npt.NDArray[np.float32]]) -> None: ...
    def flat_parameters(self) -> npt.NDArray[np.float32]: ...
    def logits(self, inputs: npt.NDArray[np.uint32]) -> npt.NDArray[np.float32]: ...
    def loss_and_grad(
        self, inputs: npt.NDArray[np.uint32], targets: npt.NDArray[np.uint32], want_grad: bool = True
    ) -> tuple[float, dict[str, npt.NDArray[np.float32]] | None]: ...
    def loss_from(
        self, inputs: npt.NDArray[np.uint32], targets: npt.NDArray[np.uint32], state: RecurrentState
    ) -> float: ...
    def new_state(self, batch: int) -> RecurrentState: ...
    def step(self, state: RecurrentState, tokens: list[int]) -> npt.NDArray[np.float32]: ...
    def generate(
        self,
        prompt: list[int],
        length: int,
        temperature: float = 0.8,
        seed: int = 0,
        top_k: int = 0,
        top_p: float = 1.0,
    ) -> list[int]: ...

class TokenStream:
    """Generation one chunk at a time: the prompt is fed once; each `next(n)`
    samples n more tokens with the GIL released (chunk sizes do not change them)."""

    def __init__(
        self,
        model: Model,
        prompt: list[int],
        temperature: float = 0.8,
        seed: int = 0,
        top_k: int = 0,
        top_p: float = 1.0,
    ) -> None: ...
    def next(self, n: int) -> list[int]: ...

class Trainer:
    def __init__(
        self, model: Model, learning_rate: float = 1e-3, weight_decay: float = 0.01, grad_clip: float = 1.0
    ) -> None: ...
    @property
    def optimizer_step(self) -> int: ...
    learning_rate: float
    weight_decay: float
    grad_clip: float
    def step(
        self,
        model: Model,
        inputs: npt.NDArray[np.uint32],
        targets: npt.NDArray[np.uint32],
        state: RecurrentState | None = None,
    ) -> tuple[float, float]: ...
    def gradient(
        self,
        model: Model,
        inputs: npt.NDArray[np.uint32],
        targets: npt.NDArray[np.uint32],
        out: npt.NDArray[np.float32],
        scale: float = 1.0,
        state: RecurrentState | None = None,
    ) -> float: ...
    def apply_gradient(self, model: Model, grad: npt.NDArray[np.float32]) -> float: ...
    def steps(
        self,
        model: Model,
        inputs: npt.NDArray[np.uint32],
        targets: npt.NDArray[np.uint32],
        skip_non_finite: bool = False,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...
    def grpo_step(
        self, model: Model, batch: GrpoBatch, clip: float = 0.2, kl_beta: float = 0.0, temperature: float = 1.0
    ) -> GrpoStats: ...
    def state(self) -> tuple[int, npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...
    def set_state(self, step: int, m: npt.NDArray[np.float32], v: npt.NDArray[np.float32]) -> None: ...

class GrpoBatch:
    def __init__(
        self,
        sequences: npt.NDArray[np.uint32],
        mask: npt.NDArray[np.float32],
        old_log_probs: npt.NDArray[np.float32],
        advantages: npt.NDArray[np.float32],
        ref_log_probs: npt.NDArray[np.float32] | None = None,
    ) -> None: ...

class GrpoStats:
    @property
    def loss(self) -> float: ...
    @property
    def mean_ratio(self) -> float: ...
    @property
    def clip_fraction(self) -> float: ...
    @property
    def kl(self) -> float: ...
    @property
    def tokens(self) -> int: ...
    @property
    def grad_norm(self) -> float: ...

class CheckpointRecord:
    @property
    def version(self) -> str: ...
    @property
    def timestamp(self) -> str: ...
    @property
    def metadata(self) -> str | None: ...
    @property
    def optimizer_step(self) -> int: ...
    @property
    def config(self) -> ModelConfig: ...
    def model(self) -> Model: ...
    def param_m(self) -> npt.NDArray[np.float32]: ...
    def param_v(self) -> npt.NDArray[np.float32]: ...

def read_checkpoint(path: str, allow_non_finite: bool = False) -> CheckpointRecord: ...
def write_checkpoint(
    path: str,
    model: Model,
    optimizer_step: int = 0,
    param_m: npt.NDArray[np.float32] | None = None,
    param_v: npt.NDArray[np.float32] | None = None,
    metadata: str | None = None,
    version: str | None = None,
    timestamp: str | None = None,
    allow_non_finite: bool = False,
) -> None: ...
def write_file_atomic(path: str, data: bytes) -> None:
    """Writes `data` to `path` atomically: how every file rnnpy writes is written."""

def check_output_path(path: str, create_folders: bool = True) -> None:
    """Raises OSError naming `path` when it could not be written now."""

def check_input_path(path: str) -> int:
    """Raises OSError naming `path` unless it is a readable regular file; returns its size."""

def set_interrupt(level: int) -> None:
    """Ctrl-C for the core: 0 none, 1 stop computing, 2 stop saving too (rnnpy.interrupt)."""

def available_memory() -> int | None:
    """Bytes of memory the process can still use, or None when the system does not say."""

def rl_sample_groups(
    model: Model,
    prompts: list[list[int]],
    group_size: int,
    max_len: int,
    stop_ids: list[int],
    temperature: float = 1.0,
    seed: int = 0,
) -> list[tuple[list[int], list[float]]]: ...
def rl_token_log_probs(
    model: Model, sequences: npt.NDArray[np.uint32], temperature: float = 1.0
) -> npt.NDArray[np.float32]: ...
def rl_loss_and_grad(
    model: Model, batch: GrpoBatch, clip: float = 0.2, kl_beta: float = 0.0, temperature: float = 1.0
) -> tuple[GrpoStats, dict[str, npt.NDArray[np.float32]]]: ...
def kernel_sgemm_gflops(n: int = 1024, repeats: int = 5) -> float:
    """GFLOP/s of the core's own GEMM kernel on an n × n product (benchmarks only)."""
