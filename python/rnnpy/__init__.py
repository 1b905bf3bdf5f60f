"""rnnpy: small recurrent language models (GRU + RWKV + MoE) trained on the CPU
by a Rust core.

    import rnnpy
    cfg = rnnpy.ModelConfig(vocab_size=65, hidden_size=32)
    model = rnnpy.Model(cfg, seed=0)
    trainer = rnnpy.Trainer(model, learning_rate=1e-3)
    loss, grad_norm = trainer.step(inputs, targets)      # [B, T] integer arrays
    rnnpy.save_checkpoint("model.bin", model, trainer, metadata={"epoch": 1})
"""

from rnnpy._core import __version__
from rnnpy.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from rnnpy.model import Model, ModelConfig, RecurrentState
from rnnpy.tokenizer import BPETokenizer
from rnnpy.trainer import StepResult, Trainer

__all__ = [
    "__version__",
    "BPETokenizer",
    "Checkpoint",
    "CheckpointError",
    "Model",
    "ModelConfig",
    "RecurrentState",
    "StepResult",
    "Trainer",
    "load_checkpoint",
    "save_checkpoint",
]
