"""rnnpy: small recurrent language models (GRU + RWKV + MoE) trained on the CPU."""

from rnnpy._core import __version__

__all__ = ["__version__"]
