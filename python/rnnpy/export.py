"""A model in the layout other tools read: a directory with

* ``model.safetensors`` — every parameter by its MODEL.md name and shape, float32;
* ``config.json`` — the architecture at the top level (ModelConfig's fields,
  Hugging Face style) and, under ``rnnpy``, what the checkpoint file itself
  held: its version string, timestamp and metadata text, verbatim;
* ``tokenizer.json`` — the vocabulary as a Hugging Face ``tokenizers`` file
  with the same ids (BPE or characters), when the vocabulary is known.

``read`` goes back. What a round trip keeps: the parameters bit for bit, the
configuration (the raw MoE ``top_k`` and ``num_heads`` included), the
metadata text, version and timestamp. What it drops: AdamW's moments and step
count — the imported checkpoint has step 0 and zero moments, so training
from it starts a fresh AdamW. An rnnpy checkpoint without optimizer state
therefore comes back byte for byte. ``safetensors`` is the one package this
needs (``pip install 'rnnpy[export]'``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnpy import __version__
from rnnpy.checkpoint import Checkpoint, load_checkpoint
from rnnpy.errors import ConfigError, ExportError, require
from rnnpy.metadata import RunMetadata, vocab_from_dict, vocab_to_dict
from rnnpy.model import CONFIG_FIELDS, Model, ModelConfig
from rnnpy.tokenizer.io import loads, timestamp, write_atomic
from rnnpy.vocab import Vocab

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
MODEL_TYPE = "rnnpy"
#: The layout `write` produces; `read` takes this one.
EXPORT_FORMAT = 1


@dataclass
class Exported:
    """What an export directory holds: the checkpoint it was made from (no
    optimizer state), and the vocabulary and default prompt when the export
    has them (an old program's checkpoint exported with its training text)."""

    checkpoint: Checkpoint
    vocab: Vocab | None
    start: str | None = None


def _safetensors() -> Any:
    return require("safetensors.numpy", "export to safetensors", "export")


def write(
    checkpoint: Checkpoint, directory: str | os.PathLike[str], vocab: Vocab | None = None, start: str | None = None
) -> list[Path]:
    """Writes the export of ``checkpoint`` (with ``vocab``'s tokenizer.json
    when given; ``start``, the default prompt) into ``directory``, each file
    atomically; returns the files."""
    st = _safetensors()
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise ExportError(f"'{out}' is a file, not a directory to export into")
    out.mkdir(parents=True, exist_ok=True)
    c = checkpoint.config
    config: dict[str, Any] = {"model_type": MODEL_TYPE, **{f: getattr(c, f) for f in CONFIG_FIELDS}}
    config["torch_dtype"] = "float32"
    config["rnnpy"] = {
        "export_format": EXPORT_FORMAT,
        "version": __version__,
        "checkpoint": {
            "version": checkpoint.version,
            "timestamp": checkpoint.timestamp,
            "metadata": checkpoint.metadata_text,
            "optimizer_step_dropped": checkpoint.optimizer_step,
        },
        "vocab": None if vocab is None else vocab_to_dict(vocab),
        "tokenizer_file": None if vocab is None else TOKENIZER_FILE,
        "start": start,
    }
    files = [out / MODEL_FILE, out / CONFIG_FILE]
    write_atomic(files[0], st.save(checkpoint.model.parameters()))
    write_atomic(files[1], json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    if vocab is not None:
        files.append(out / TOKENIZER_FILE)
        write_atomic(files[2], vocab.to_huggingface_json())
    return files


def read(directory: str | os.PathLike[str]) -> Exported:
    """The checkpoint an export directory holds (step 0, zero moments).
    ExportError names the file and what does not fit."""
    st = _safetensors()
    d = Path(directory)
    config = _read_config(d / CONFIG_FILE)
    try:
        cfg = ModelConfig(**{f: config[f] for f in CONFIG_FIELDS})
    except KeyError as e:
        raise ExportError(f"'{d / CONFIG_FILE}' has no {e.args[0]}") from None
    except (ConfigError, TypeError, OverflowError) as e:
        raise ExportError(f"'{d / CONFIG_FILE}': {e}") from None
    model = Model(cfg)
    model.set_parameters(_read_tensors(st, d / MODEL_FILE, cfg))
    ours = config.get("rnnpy") or {}
    record = ours.get("checkpoint") or {}
    text = record.get("metadata")
    try:
        metadata = None if text is None else json.loads(text)
        vocab = None if ours.get("vocab") is None else vocab_from_dict(ours["vocab"])
    except (ValueError, RecursionError, TypeError) as e:  # MetadataError, not JSON, too deep, a wrong shape
        raise ExportError(f"'{d / CONFIG_FILE}': {e}") from None
    n = cfg.num_parameters()
    ck = Checkpoint(
        path=os.fspath(d),
        model=model,
        config=cfg,
        optimizer_step=0,
        metadata=metadata,
        version=str(record.get("version", "3.0-bin")),
        timestamp=str(record.get("timestamp") or timestamp()),
        param_m=np.zeros(n, np.float32),
        param_v=np.zeros(n, np.float32),
        metadata_text=text,
    )
    start = ours.get("start")
    return Exported(ck, vocab, start if isinstance(start, str) and start else None)


def open_model(path: str | os.PathLike[str]) -> tuple[Checkpoint, RunMetadata]:
    """A checkpoint file or an export directory: the checkpoint and its run
    metadata, with the vocabulary and default prompt an export adds to an old
    program's checkpoint (its metadata has none)."""
    if not os.path.isdir(path):
        ck = load_checkpoint(path)
        return ck, RunMetadata.of(ck)
    exported = read(path)
    meta = RunMetadata.of(exported.checkpoint)
    return exported.checkpoint, dataclasses.replace(
        meta, vocab=meta.vocab or exported.vocab, start=meta.start or exported.start
    )


def files(directory: str | os.PathLike[str]) -> list[Path]:
    """The files of an export directory, in the order `write` writes them."""
    d = Path(directory)
    return [d / f for f in (MODEL_FILE, CONFIG_FILE, TOKENIZER_FILE) if (d / f).is_file()]


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = loads(path.read_bytes())  # strict JSON: no NaN, no nesting or numbers Python cannot read
    except FileNotFoundError:
        raise ExportError(f"'{path.parent}' is not an export directory: it has no {CONFIG_FILE}") from None
    except (OSError, ValueError) as e:
        raise ExportError(f"'{path}' cannot be read: {e}") from None
    if not isinstance(config, dict) or config.get("model_type") != MODEL_TYPE:
        raise ExportError(f"'{path}' does not describe an rnnpy model (model_type is not {MODEL_TYPE!r})")
    fmt = (config.get("rnnpy") or {}).get("export_format", EXPORT_FORMAT)
    if fmt != EXPORT_FORMAT:
        raise ExportError(f"'{path}' is export format {fmt!r}; this rnnpy reads format {EXPORT_FORMAT}")
    return config


def _read_tensors(st: Any, path: Path, cfg: ModelConfig) -> dict[str, np.ndarray]:
    """Every parameter of `cfg`, by name, float32 of its exact shape, and nothing else."""
    try:
        tensors: dict[str, np.ndarray] = st.load(path.read_bytes())
    except FileNotFoundError:
        raise ExportError(f"'{path.parent}' has no {MODEL_FILE}") from None
    except require("safetensors", "export to safetensors", "export").SafetensorError as e:
        raise ExportError(f"'{path}' is not a safetensors file ({e})") from None
    want = dict(cfg.param_shapes())
    missing, extra = [n for n in want if n not in tensors], sorted(set(tensors) - set(want))
    if missing or extra:
        raise ExportError(
            f"'{path}' does not hold this config's parameters: "
            + "; ".join(p for p in (_names("missing", missing), _names("unexpected", extra)) if p)
        )
    for name, shape in want.items():
        t = tensors[name]
        if tuple(t.shape) != tuple(shape) or t.dtype != np.float32:
            raise ExportError(f"'{path}': {name} is {t.dtype} {list(t.shape)}, the config needs float32 {list(shape)}")
    return tensors


def _names(what: str, names: list[str]) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"{what} {shown}"
