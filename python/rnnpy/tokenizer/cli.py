"""``rnnpy tokenizer train|encode|decode``.

Errors are one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from rnnpy.tokenizer import BPETokenizer, TokenizerError, read_text
from rnnpy.tokenizer.ids import SCHEMES, UTF8_BYTES

PROG = "rnnpy tokenizer"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Train, apply and export BPE tokenizers.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="learn merges from a text and save tokenizer.json")
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", metavar="FILE", help="UTF-8 training text file")
    src.add_argument("--text", help="training text given inline")
    t.add_argument("--vocab-size", type=int, default=512, help="target vocabulary size (default 512)")
    t.add_argument("--min-frequency", type=int, default=2, help="smallest pair count merged (default 2)")
    t.add_argument("--output", default="tokenizer.json", help="where to save (default tokenizer.json)")
    t.add_argument("--hf-output", metavar="FILE", help="also write a Hugging Face tokenizers JSON")
    t.add_argument(
        "--scheme",
        choices=SCHEMES,
        default=UTF8_BYTES,
        help="base ids: utf8-bytes (lossless, default) or latin1 (the old program's)",
    )
    t.add_argument("--quiet", action="store_true", help="print nothing but errors")

    e = sub.add_parser("encode", help="print the token ids of a text, space-separated")
    e.add_argument("--tokenizer", required=True, metavar="FILE")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--text")
    src.add_argument("--input", metavar="FILE")

    d = sub.add_parser("decode", help="print the text of token ids (exactly, no newline added)")
    d.add_argument("--tokenizer", required=True, metavar="FILE")
    d.add_argument("ids", nargs="*", help="token ids; read from stdin when none are given")
    return p


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # argparse already printed usage and the message
        return int(e.code or 0)
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "encode":
            return _encode(args)
        return _decode(args)
    except (TokenizerError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from rnnpy.tokenizer.report import TrainingReport, print_header, print_summary

    text = read_text(args.input) if args.input is not None else args.text
    console = Console(quiet=args.quiet, highlight=False)
    print_header(console, len(text), args.vocab_size, args.min_frequency)
    with TrainingReport(console, bar=console.is_terminal) as report:
        tok = BPETokenizer.train(
            text, vocab_size=args.vocab_size, min_frequency=args.min_frequency, progress=report, scheme=args.scheme
        )
    tok.save(args.output)
    console.print(f"Saved BPE tokenizer to {args.output} (vocab={tok.vocab_size}, merges={len(tok.merges)})", markup=False)
    if args.hf_output:
        tok.to_huggingface(args.hf_output)
        console.print(f"Saved Hugging Face tokenizer to {args.hf_output}", markup=False)
    print_summary(console, tok, tok.training.seconds)
    return 0


def _encode(args: argparse.Namespace) -> int:
    tok = BPETokenizer.load(args.tokenizer)
    text = read_text(args.input) if args.input is not None else args.text
    print(" ".join(map(str, tok.encode(text))))
    return 0


def _decode(args: argparse.Namespace) -> int:
    tok = BPETokenizer.load(args.tokenizer)
    words = args.ids if args.ids else sys.stdin.read().split()
    try:
        ids = [int(w) for w in words]
    except ValueError:
        raise TokenizerError("token ids must be integers") from None
    text = tok.decode(ids)
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8", "surrogatepass"))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
