"""``python -m rnnpy tokenizer train|encode|decode``: the BPE tokenizer on its own."""

from __future__ import annotations

import sys

from rnnpy.cli.bpe import summary, train_tokenizer
from rnnpy.cli.commands import TokenizerArgs
from rnnpy.cli.console import Reporter
from rnnpy.cli.data import check_output
from rnnpy.errors import TokenizerError
from rnnpy.tokenizer import BPETokenizer, read_text


def _text(args: TokenizerArgs) -> str:
    return read_text(args.files.input) if args.files.input else args.files.text


def train(args: TokenizerArgs) -> int:
    check_output(args.files.output, "--output")  # before the work, not after
    if args.files.hf_output:
        check_output(args.files.hf_output, "--hfOutput")
    out = Reporter(args.run.quiet)
    tok = train_tokenizer(_text(args), args.bpe, args.files.output, out)
    if args.files.hf_output:
        tok.to_huggingface(args.files.hf_output)
        out.line(f"Saved Hugging Face tokenizer to {args.files.hf_output}")
    summary(tok, out)
    return 0


def encode(args: TokenizerArgs) -> int:
    tok = BPETokenizer.load(args.bpe.load_path)
    print(" ".join(map(str, tok.encode(_text(args)))))
    return 0


def decode(args: TokenizerArgs) -> int:
    tok = BPETokenizer.load(args.bpe.load_path)
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
