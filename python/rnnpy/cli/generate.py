"""``python -m rnnpy generate``: sample text from a checkpoint alone.

The prompt is fed once; sampling starts from the state after its last token
(temperature, then ``--sampleTopK`` / ``--sampleTopP``) and each token is
written out as soon as it is drawn. Without ``--prompt``
generation starts from the first character of the training text, as the old
program did (rnnpy stores that character in the checkpoint).
"""

from __future__ import annotations

import secrets

from rnnpy.cli.commands import TrainArgs
from rnnpy.cli.console import RULE, Reporter
from rnnpy.cli.data import checkpoint_vocab
from rnnpy.cli.options import GenerationOptions, RunOptions
from rnnpy.errors import UsageError
from rnnpy.export import open_model
from rnnpy.lm import LanguageModel
from rnnpy.metadata import RunMetadata
from rnnpy.model import Model
from rnnpy.vocab import Vocab


def rust_float(x: float) -> str:
    """How the old program printed an f32 with ``{}``: 0.8, 1, 0.0001."""
    s = repr(float(x))
    return s.removesuffix(".0")


def sample(model: Model, vocab: Vocab, prompt: str, g: GenerationOptions, seed: int, out: Reporter) -> None:
    """Feed ``prompt``, then draw ``g.gen_length`` tokens (temperature, top-k,
    top-p of ``g``), streaming them to ``out`` (and keeping none: any length
    runs in constant memory)."""
    if not prompt:
        raise UsageError("the prompt is empty: give --prompt=TEXT")
    pieces = LanguageModel(model, vocab).stream(
        prompt, g.gen_length, g.temperature, g.sample_top_k, g.sample_top_p, seed
    )  # checks the prompt against the vocabulary before anything is printed
    if not out.quiet:
        filters = f" | sampleTopK: {g.sample_top_k}" if g.sample_top_k else ""
        filters += f" | sampleTopP: {rust_float(g.sample_top_p)}" if g.sample_top_p < 1 else ""
        out.line(f"Temperature: {rust_float(g.temperature)}{filters}\nGenerated ({g.gen_length} tokens):\n{RULE}")
    out.stream(prompt)
    for piece in pieces:
        out.stream(piece)
    out.stream("\n")
    if not out.quiet:
        out.line(f"{RULE}\n")


def start_text(meta: RunMetadata, text: str | None) -> str:
    """The first character of the training text (stored by rnnpy; else from
    the text the old checkpoint was trained on)."""
    if meta.start:
        return meta.start
    if text:
        return text[0]
    raise UsageError("no prompt: give --prompt=TEXT")


def resolve_seed(run: RunOptions) -> int:
    """The seed given, or a random one (which the run prints and stores)."""
    seed = run.fixed_seed()
    return secrets.randbelow(2**32) if seed is None else seed


def run(args: TrainArgs) -> int:
    out = Reporter(args.run.quiet)
    path = args.checkpoint.load_checkpoint
    ck, meta = open_model(path)  # a checkpoint file or an export directory
    vocab, text = checkpoint_vocab(meta, ck.config.vocab_size, args.data, args.bpe, args.given, path)
    prompt = args.generation.prompt or start_text(meta, text)
    sample(ck.model, vocab, prompt, args.generation, resolve_seed(args.run), out)
    return 0
