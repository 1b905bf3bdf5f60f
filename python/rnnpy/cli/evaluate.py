"""``python -m rnnpy eval``: the score of a text under a checkpoint — mean
loss per token, perplexity and bits per character — computed exactly, with
the recurrent state carried across the text (``rnnpy.evaluation``).

A character the model's vocabulary lacks cannot be scored: the command
names those characters and how often they occur, and scores nothing.
"""

from __future__ import annotations

import json
from collections import Counter

from rnnpy.checkpoint import load_checkpoint
from rnnpy.cli.commands import EvalArgs
from rnnpy.cli.console import Reporter
from rnnpy.cli.data import checkpoint_vocab, read_file
from rnnpy.errors import UsageError
from rnnpy.evaluation import Score, score_text, streams_for
from rnnpy.metadata import RunMetadata
from rnnpy.vocab import CharVocab, Vocab


def outside(vocab: Vocab, text: str) -> str | None:
    """The characters of ``text`` a character vocabulary lacks, with counts; None when it has them all."""
    if not isinstance(vocab, CharVocab):
        return None
    missing = Counter(c for c in text if c not in vocab)
    if not missing:
        return None
    shown = ", ".join(f"{c!r} ×{n}" for c, n in missing.most_common(10))
    more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    return f"{sum(missing.values())} characters outside the model's vocabulary of {vocab.size} ({shown}{more})"


def check_scorable(vocab: Vocab, text: str, source: str) -> None:
    """A text the model can score: encodable and at least two tokens long."""
    problem = outside(vocab, text)
    if problem:
        raise UsageError(f"{source} has {problem}: the model cannot score them")
    if len(vocab.encode(text)) < 2:
        raise UsageError(f"{source} has fewer than two tokens: there is nothing to score")


def report(s: Score) -> str:
    return f"Loss: {s.loss:.4f} nats/token | Perplexity: {s.perplexity:.3f} | Bits/char: {s.bits_per_char:.4f}"


def run(args: EvalArgs) -> int:
    out = Reporter(args.run.quiet)
    path = args.checkpoint.load_checkpoint
    ck = load_checkpoint(path)
    meta = RunMetadata.of(ck)
    vocab, _ = checkpoint_vocab(meta, ck.config.vocab_size, args.data, args.bpe, args.given, path)
    source = args.eval.file
    text = read_file(source, "--file")
    check_scorable(vocab, text, source)
    s = score_text(ck.model, vocab, text)
    if args.run.quiet:
        row = {"loss": s.loss, "perplexity": s.perplexity, "bits_per_char": s.bits_per_char}
        print(json.dumps({**row, "tokens": s.tokens, "chars": s.chars}))
        return 0
    c = ck.config
    out.line(
        f"Checkpoint: {path} (H {c.hidden_size}, E {c.embed_size}, {c.num_layers} layer(s), vocab {c.vocab_size} "
        f"{'chars' if vocab.kind == 'char' else 'BPE tokens'}, optimizer step {ck.optimizer_step})"
    )
    out.line(
        f"Text: {source} ({len(text):,} chars, {s.tokens + 1:,} tokens; {s.tokens:,} predicted in "
        f"{streams_for(s.tokens)} stream(s), state carried)"
    )
    out.line(report(s))
    return 0
