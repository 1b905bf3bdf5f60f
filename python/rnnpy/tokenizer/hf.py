"""Export to the Hugging Face tokenizers JSON format (filled in next)."""

from __future__ import annotations


def to_huggingface_json(data) -> str:  # pragma: no cover - placeholder
    raise NotImplementedError
