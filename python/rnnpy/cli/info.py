"""``python -m rnnpy info CHECKPOINT|EXPORT_DIR [--json]``: what a checkpoint holds, for
rnnpy's files and the old program's alike. ``describe`` is the record;
the text is a rendering of it, ``--json`` the record itself."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np

from rnnpy import export
from rnnpy.cli.commands import InfoArgs
from rnnpy.cli.console import Reporter
from rnnpy.cli.options import options_for
from rnnpy.export import open_model
from rnnpy.metadata import RunMetadata
from rnnpy.model import CONFIG_FIELDS
from rnnpy.vocab import CharVocab, Vocab

OLD_PROGRAM = "the old rnn-rust program"


def _seconds(time: str | None) -> float | None:
    """The metadata's `time` ("45.3", as the old program writes it) as seconds;
    None when absent or not a number (a file another writer made)."""
    try:
        return None if time is None else float(time)
    except ValueError:
        return None


def describe(path: str) -> dict[str, Any]:
    """Everything `info` shows, as JSON-ready values; `path` is a checkpoint
    file or an export directory (`export_files` then lists its files)."""
    ck, meta = open_model(path)
    c = ck.config
    exported = [str(f) for f in export.files(path)] if os.path.isdir(path) else None
    return {
        "path": path,
        "file_bytes": sum(map(os.path.getsize, exported)) if exported else os.path.getsize(path),
        "export_files": exported,
        "format": ck.version,
        "timestamp": ck.timestamp,
        "written_by": _writer(meta),
        "architecture": {f: getattr(c, f) for f in CONFIG_FIELDS},
        "parameters": {"total": c.num_parameters(), "active": c.active_parameters()},
        "optimizer": {"step": ck.optimizer_step, "moments": bool(np.any(ck.param_m) or np.any(ck.param_v))},
        "training": {
            "epoch": meta.epoch,
            "completed": meta.completed,
            "interrupted": meta.interrupted,
            "seconds": _seconds(meta.time),
            # `loss` is the best epoch's once training completed, the saved epoch's before
            "best_loss": meta.loss if meta.completed else None,
            "last_loss": meta.last_loss if meta.last_loss is not None or meta.completed else meta.loss,
        },
        "vocabulary": _vocabulary(meta.vocab),
        "start": meta.start,
        "seed": meta.seed,
        "options": dict(meta.options),
        "rl": None if meta.rl is None else meta.rl.to_dict(),
    }


def _writer(meta: RunMetadata) -> str:
    """rnnpy (with the version that trained the model, when it did) or the old program (no `rnnpy` key)."""
    if meta.version:
        return f"rnnpy {meta.version}"
    return "rnnpy" if meta.schema >= 1 else OLD_PROGRAM


def _vocabulary(vocab: Vocab | None) -> dict[str, Any] | None:
    if vocab is None:
        return None
    if isinstance(vocab, CharVocab):
        return {"type": "char", "size": vocab.size, "chars": "".join(vocab.chars)}
    tok = vocab.tokenizer
    return {"type": "bpe", "size": vocab.size, "merges": len(tok.merges), "scheme": tok.scheme}


def lines(d: dict[str, Any]) -> list[str]:
    """The record as aligned `name  value` lines."""
    a, p, o, t = d["architecture"], d["parameters"], d["optimizer"], d["training"]
    rows = [
        ("format", f"{d['format']}, saved {d['timestamp']} by {d['written_by']}"),
        (
            "architecture",
            f"H {a['hidden_size']}, E {a['embed_size']}, {a['num_layers']} layer(s), {a['num_heads']} heads, "
            + ("no MoE (fastMode)" if a["fast_mode"] else f"{a['num_experts']} experts top-{a['top_k']}")
            + f", RWKV {'on' if a['use_rwkv'] else 'off'}, vocabulary {a['vocab_size']}",
        ),
        ("parameters", f"{p['total']:,} total, {p['active']:,} active per token ({p['active'] / p['total']:.1%})"),
        ("optimizer", _optimizer_line(o, d["export_files"] is not None)),
        ("training", _training(t)),
        ("vocabulary", _vocabulary_line(d["vocabulary"], d["written_by"])),
    ]
    rows += [(k, repr(d[k]) if k == "start" else str(d[k])) for k in ("start", "seed") if d[k] is not None]
    if d["options"]:
        rows.append(("options", _options_line(d["options"])))
    if d["rl"] is not None:
        r = d["rl"]
        b, e = r.get("before"), r.get("after")  # an RL run stopped by Ctrl-C has no evaluation after
        scores = ""
        if b is not None and e is not None:
            scores = f": exact {b['exact']:.1%} -> {e['exact']:.1%}, "
            scores += f"mean reward {b['mean_reward']:.3f} -> {e['mean_reward']:.3f}"
        stopped = " (interrupted: no evaluation after)" if r.get("interrupted") else ""
        rows.append(("rl", f"GRPO on {r['task']}, {r['episodes']} episodes{stopped}{scores}"))
    if d["export_files"]:
        rows.append(("files", ", ".join(os.path.basename(f) for f in d["export_files"])))
    width = max(len(k) for k, _ in rows) + 2
    what = "export directory, " if d["export_files"] else ""
    head = f"{d['path']} ({what}{d['file_bytes'] / 1_048_576:.2f} MB, {d['file_bytes']:,} bytes)"
    return [head] + [f"  {k:<{width}}{v}" for k, v in rows]


def _optimizer_line(o: dict[str, Any], exported: bool) -> str:
    if exported:
        return "not in an export (an import starts a fresh AdamW)"
    return f"AdamW step {o['step']:,}, " + ("moments stored" if o["moments"] else "no moments (zeros)")


def _training(t: dict[str, Any]) -> str:
    state = "completed" if t["completed"] else "interrupted" if t["interrupted"] else "saved"
    text = f"epoch {t['epoch']}, {state}" + (f" in {t['seconds']:.1f}s" if t["seconds"] is not None else "")
    losses = [f"{k} loss {t[k + '_loss']:.6f}" for k in ("best", "last") if t[k + "_loss"] is not None]
    return "; ".join([text, *losses])


def _vocabulary_line(v: dict[str, Any] | None, written_by: str) -> str:
    if v is None:
        if written_by == OLD_PROGRAM:
            return "not stored (the old program's checkpoints carry none: generate and export take its training text)"
        return "not stored"
    if v["type"] == "char":
        shown = v["chars"] if len(v["chars"]) <= 60 else v["chars"][:57] + "..."
        return f"{v['size']} characters {shown!r}"
    return f"BPE ({v['scheme']}), {v['size']} tokens, {v['merges']} merges"


def _options_line(options: dict[str, Any]) -> str:
    """The options that differ from train's defaults (all are in --json)."""
    defaults = {o.name: o.default_for("train") for o in options_for("train")}
    changed = [f"--{k}={_shown(v)}" for k, v in options.items() if k in defaults and v != defaults[k]]
    return " ".join(changed) + " (the rest at their defaults)" if changed else "all at their defaults"


def _shown(v: Any) -> str:
    """A value as it would be typed; long texts by their length."""
    if isinstance(v, bool):
        return str(v).lower()
    text = str(v)
    return f"({len(text)} chars)" if len(text) > 40 else text


def run(args: InfoArgs) -> int:
    record = describe(args.paths[0])
    if args.info.json:
        sys.stdout.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        return 0
    out = Reporter()
    for line in lines(record):
        out.line(line)
    return 0
