"""rnnpy: small recurrent language models (GRU + RWKV + MoE) trained on the CPU
by a Rust core.

    import rnnpy
    lm = rnnpy.load("model.bin")                       # a checkpoint with its vocabulary: text in, text out
    print(lm.generate("ROMEO:", length=200, temperature=0.8, top_k=20, top_p=0.95, seed=1))
    lm = rnnpy.train_text(open("corpus.txt").read(), hidden_size=64, epochs=5, progress=True)

The layers below it:

    cfg = rnnpy.ModelConfig(vocab_size=65, hidden_size=32)
    model = rnnpy.Model(cfg, seed=0)
    trainer = rnnpy.Trainer(model, learning_rate=1e-3)
    loss, grad_norm = trainer.step(inputs, targets)      # [B, T] integer arrays
    rnnpy.save_checkpoint("model.bin", model, trainer, metadata={"epoch": 1})

Input rnnpy cannot use raises a subclass of ``rnnpy.RnnpyError`` (a
``ValueError``); the hierarchy is in ``rnnpy.errors``.
"""

try:  # first: a Ctrl-C while the program starts exits quietly (rnnpy._startup)
    from rnnpy import _startup

    _startup.install()
except KeyboardInterrupt:  # ... even one that comes while those lines run
    from rnnpy._startup import is_rnnpy_program, quit_starting

    if is_rnnpy_program():
        quit_starting()
    raise
from rnnpy._core import __version__
from rnnpy.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from rnnpy.errors import (
    CheckpointError,
    ConfigError,
    DistributedError,
    DivergenceError,
    ExportError,
    InputError,
    MemoryLimitError,
    MetadataError,
    MetricsError,
    MissingDependencyError,
    RnnpyError,
    TaskError,
    TextTooShortError,
    TokenizerError,
    UsageError,
    VocabularyError,
)
from rnnpy.lm import LanguageModel, load
from rnnpy.metadata import RunMetadata
from rnnpy.model import Completion, GRPOBatch, GRPOStats, Model, ModelConfig, RecurrentState
from rnnpy.text_training import train_text
from rnnpy.tokenizer import BPETokenizer
from rnnpy.trainer import StepResult, Trainer
from rnnpy.vocab import BPEVocab, CharVocab, Vocab

__all__ = [
    "__version__",
    "BPETokenizer",
    "BPEVocab",
    "CharVocab",
    "Checkpoint",
    "CheckpointError",
    "Completion",
    "ConfigError",
    "DistributedError",
    "DivergenceError",
    "ExportError",
    "GRPOBatch",
    "GRPOStats",
    "InputError",
    "LanguageModel",
    "MemoryLimitError",
    "MetadataError",
    "MetricsError",
    "MissingDependencyError",
    "Model",
    "ModelConfig",
    "RecurrentState",
    "RnnpyError",
    "RunMetadata",
    "StepResult",
    "TaskError",
    "TextTooShortError",
    "TokenizerError",
    "Trainer",
    "UsageError",
    "Vocab",
    "VocabularyError",
    "load",
    "load_checkpoint",
    "save_checkpoint",
    "train_text",
]
