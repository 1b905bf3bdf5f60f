"""``python -m rnnpy export CHECKPOINT --format=safetensors -o DIR`` and
``python -m rnnpy import DIR -o CHECKPOINT`` (``rnnpy.export``).

An old program's checkpoint carries no vocabulary: given its training text
(``--trainingFile``/``--trainingText``, or ``--useBPE --bpeLoadPath``),
export writes its tokenizer too; without one, the weights and config alone.
"""

from __future__ import annotations

import os

from rnnpy import export as exchange
from rnnpy.checkpoint import load_checkpoint
from rnnpy.cli.commands import ExportArgs, ImportArgs
from rnnpy.cli.console import Reporter
from rnnpy.cli.data import checkpoint_vocab
from rnnpy.cli.generate import start_text
from rnnpy.metadata import RunMetadata
from rnnpy.vocab import Vocab

#: Options that name an old program's vocabulary.
VOCAB_SOURCES = frozenset({"trainingText", "trainingFile", "useBPE", "bpeLoadPath"})


def export(args: ExportArgs) -> int:
    out = Reporter()
    path = args.paths[0]
    ck = load_checkpoint(path)
    meta = RunMetadata.of(ck)
    vocab: Vocab | None = meta.vocab
    start = meta.start
    if vocab is None and args.given & VOCAB_SOURCES:
        vocab, text = checkpoint_vocab(meta, ck.config.vocab_size, args.data, args.bpe, args.given, path)
        start = start_text(meta, text) if text else None
    elif vocab is None:
        out.warn(
            f"{path} carries no vocabulary (an old program's checkpoint): exporting without {exchange.TOKENIZER_FILE}; "
            "give its training text (--trainingFile) or tokenizer (--useBPE --bpeLoadPath) to include one"
        )
    files = exchange.write(ck, args.files.output, vocab, start)
    for f in files:
        out.line(f"Wrote {f} ({os.path.getsize(f):,} bytes)")
    if ck.optimizer_step > 0:
        out.line(f"Not exported: AdamW's moments and step ({ck.optimizer_step}); an import starts a fresh AdamW")
    return 0


def import_(args: ImportArgs) -> int:
    exported = exchange.read(args.paths[0])
    exported.checkpoint.save(args.files.output)
    size = os.path.getsize(args.files.output)
    Reporter().line(f"Saved binary checkpoint to {args.files.output} ({size / 1_048_576:.2f} MB)")
    return 0
