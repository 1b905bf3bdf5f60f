"""BPE tokenizer training as the commands print it: ``train --trainBPE``
(a tokenizer only), the tokenizer ``train --useBPE`` trains first when no
``--bpeLoadPath`` is given, and ``tokenizer train`` — with the old program's
printed lines.

Tokenizers trained here use ``--bpeScheme`` (default ``utf8-bytes``, lossless
for every string). The old program's ``latin1`` ids differ only for
characters above U+007F; pass ``--bpeScheme=latin1`` to get them exactly.
"""

from __future__ import annotations

from rnnpy.cli.commands import TrainArgs
from rnnpy.cli.console import Reporter
from rnnpy.cli.data import check_output, read_file
from rnnpy.cli.options import BPEOptions
from rnnpy.tokenizer import BPETokenizer
from rnnpy.tokenizer.report import TrainingReport, print_header, print_summary


def train_tokenizer(text: str, bpe: BPEOptions, path: str, out: Reporter) -> BPETokenizer:
    """Trains on `text` with a progress bar and the old program's merge lines, then saves to `path`."""
    print_header(out.out, len(text), bpe.vocab_size, bpe.min_frequency)
    with TrainingReport(out.out, bar=out.live) as report:
        tok = BPETokenizer.train(
            text, vocab_size=bpe.vocab_size, min_frequency=bpe.min_frequency, progress=report, scheme=bpe.scheme
        )
    tok.save(path)
    out.line(f"Saved BPE tokenizer to {path} (vocab={tok.vocab_size}, merges={len(tok.merges)})")
    return tok


def summary(tok: BPETokenizer, out: Reporter) -> None:
    if tok.training is not None:
        print_summary(out.out, tok, tok.training.seconds)


def training_source(args: TrainArgs) -> tuple[str, str]:
    """Priority as before: bpeTrainingFile, bpeTrainingText, trainingFile, trainingText."""
    bpe, data = args.bpe, args.data
    if bpe.training_file:
        return read_file(bpe.training_file, "--bpeTrainingFile"), bpe.training_file
    if bpe.training_text:
        return bpe.training_text, "--bpeTrainingText"
    if data.training_file:
        return read_file(data.training_file, "--trainingFile"), data.training_file
    return data.training_text, "--trainingText"


def train_and_save(text: str, bpe: BPEOptions, out: Reporter) -> BPETokenizer:
    """The tokenizer `train --useBPE` trains on its text first, saved to --bpeSavePath."""
    tok = train_tokenizer(text, bpe, bpe.save_path, out)
    summary(tok, out)
    return tok


def train_only(args: TrainArgs, out: Reporter) -> None:
    """`train --trainBPE`: a tokenizer, a round-trip test on the text's start, and nothing else."""
    check_output(args.bpe.save_path, "--bpeSavePath")
    text, _ = training_source(args)
    rule = "=" * 70
    out.line(f"\n{rule}\n   BPE TOKENIZER TRAINING MODE\n{rule}\n")
    out.line(f"Text: {len(text)} chars | Target: {args.bpe.vocab_size} | Output: {args.bpe.save_path}\n")
    tok = train_and_save(text, args.bpe, out)
    sample = text[:100]
    ids = tok.encode(sample)
    ok = "YES \u2713" if tok.decode(ids) == sample else "NO \u2717"
    ratio = len(sample) / len(ids) if ids else 0.0
    out.line(
        f"\n=== Test === Original: {len(sample)} chars | Encoded: {len(ids)} tokens | "
        f"Compression: {ratio:.2f}x | Match: {ok}"
    )
