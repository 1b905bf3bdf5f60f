"""BPE training and encoding speed: rnnpy's pure-Python tokenizer vs Hugging Face
``tokenizers`` (Rust) with matching settings.

Full run (results in benchmarks/TOKENIZER.md):
    python benchmarks/bench_tokenizer.py
Smoke run for CI (a 300 KB slice, seconds):
    python benchmarks/bench_tokenizer.py --smoke

Both sides learn ``vocab_size - 260`` merges over whitespace-terminated pieces
with min frequency 2 from a byte-level base alphabet plus 4 special tokens.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rnnpy.tokenizer import BPETokenizer, read_text
from rnnpy.tokenizer.ids import WHITESPACE

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_CORPUS = DATA / "gutenberg_mix.txt" if DATA.exists() else Path("/work/shared/data/gutenberg_mix.txt")


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def bench_rnnpy(text: str, vocab_size: int, sample: str) -> dict:
    tok, train_s = timed(lambda: BPETokenizer.train(text, vocab_size=vocab_size, min_frequency=2))
    with tempfile.TemporaryDirectory() as tmp:
        tok.save(Path(tmp) / "t.json")
        fresh = BPETokenizer.load(Path(tmp) / "t.json")  # empty encode cache
    ids, encode_s = timed(lambda: fresh.encode(sample))
    _, warm_s = timed(lambda: fresh.encode(sample))
    return {"train": train_s, "encode": encode_s, "encode_warm": warm_s, "tokens": len(ids), "vocab": tok.vocab_size}


def bench_hf(corpus: Path, vocab_size: int, sample: str) -> dict:
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<UNK>"))
    ws = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]"
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(ws), "merged_with_previous"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=["<PAD>", "<UNK>", "<BOS>", "<EOS>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    _, train_s = timed(lambda: tok.train([str(corpus)], trainer))
    enc, encode_s = timed(lambda: tok.encode(sample))
    return {"train": train_s, "encode": encode_s, "tokens": len(enc.ids), "vocab": tok.get_vocab_size()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--vocab-size", type=int, default=4096)
    p.add_argument("--encode-chars", type=int, default=1_000_000)
    p.add_argument("--smoke", action="store_true", help="300 KB slice, vocab 1024: runs in seconds")
    args = p.parse_args()

    text = read_text(args.corpus)
    vocab_size, encode_chars = args.vocab_size, args.encode_chars
    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus
        if args.smoke:
            text, vocab_size, encode_chars = text[:300_000], 1024, 100_000
            corpus = Path(tmp) / "slice.txt"
            corpus.write_text(text, encoding="utf-8")
        sample = text[:encode_chars]
        ours = bench_rnnpy(text, vocab_size, sample)
        theirs = bench_hf(corpus, vocab_size, sample)

    console = Console()
    console.print(
        f"corpus {args.corpus.name}{' (smoke slice)' if args.smoke else ''}: {len(text):,} chars, "
        f"vocab {vocab_size}, encode {len(sample):,} chars | {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    table = Table("", "rnnpy (Python)", "tokenizers (Rust)", "ratio")
    table.add_row("train s", f"{ours['train']:.2f}", f"{theirs['train']:.2f}", f"{ours['train'] / theirs['train']:.2f}x")
    table.add_row(
        "encode s (cold)", f"{ours['encode']:.2f}", f"{theirs['encode']:.2f}", f"{ours['encode'] / theirs['encode']:.2f}x"
    )
    table.add_row("encode s (warm cache)", f"{ours['encode_warm']:.2f}", "", "")
    table.add_row("tokens in sample", str(ours["tokens"]), str(theirs["tokens"]), "")
    table.add_row("vocab size", str(ours["vocab"]), str(theirs["vocab"]), "")
    console.print(table)


if __name__ == "__main__":
    main()
