"""BPE in the train command: ``--trainBPE`` (train and save a tokenizer, then
stop) and the tokenizer trained before ``--useBPE`` training when no
``--bpeLoadPath`` is given, with the old program's printed lines.

Tokenizers trained here use ``--bpeScheme`` (default ``utf8-bytes``, lossless
for every string). The old program's ``latin1`` ids differ only for
characters above U+007F; pass ``--bpeScheme=latin1`` to get them exactly.
"""

from __future__ import annotations

from rnnpy.cli.console import Reporter
from rnnpy.cli.options import Options
from rnnpy.cli.vocab import read_file
from rnnpy.tokenizer import BPETokenizer
from rnnpy.tokenizer.report import TrainingReport, print_header, print_summary


def training_source(opts: Options) -> tuple[str, str]:
    """Priority as before: bpeTrainingFile, bpeTrainingText, trainingFile, trainingText."""
    if opts.bpeTrainingFile:
        return read_file(opts.bpeTrainingFile, "--bpeTrainingFile"), opts.bpeTrainingFile
    if opts.bpeTrainingText:
        return opts.bpeTrainingText, "--bpeTrainingText"
    if opts.trainingFile:
        return read_file(opts.trainingFile, "--trainingFile"), opts.trainingFile
    return opts.trainingText, "--trainingText"


def train_and_save(text: str, opts: Options, out: Reporter) -> BPETokenizer:
    console = out.out
    print_header(console, len(text), opts.bpeVocabSize, opts.bpeMinFrequency)
    with TrainingReport(console, bar=out.live) as report:
        tok = BPETokenizer.train(
            text,
            vocab_size=opts.bpeVocabSize,
            min_frequency=opts.bpeMinFrequency,
            progress=report,
            scheme=opts.bpeScheme,
        )
    tok.save(opts.bpeSavePath)
    out.line(f"Saved BPE tokenizer to {opts.bpeSavePath} (vocab={tok.vocab_size}, merges={len(tok.merges)})")
    if tok.training is not None:
        print_summary(console, tok, tok.training.seconds)
    return tok


def train_only(opts: Options, out: Reporter) -> None:
    text, _ = training_source(opts)
    rule = "=" * 70
    out.line(f"\n{rule}\n   BPE TOKENIZER TRAINING MODE\n{rule}\n")
    out.line(f"Text: {len(text)} chars | Target: {opts.bpeVocabSize} | Output: {opts.bpeSavePath}\n")
    tok = train_and_save(text, opts, out)
    sample = text[:100]
    ids = tok.encode(sample)
    ok = "YES \u2713" if tok.decode(ids) == sample else "NO \u2717"
    ratio = len(sample) / len(ids) if ids else 0.0
    out.line(
        f"\n=== Test === Original: {len(sample)} chars | Encoded: {len(ids)} tokens | "
        f"Compression: {ratio:.2f}x | Match: {ok}"
    )
