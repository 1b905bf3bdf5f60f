"""``python -m rnnpy generate``: sample text from a checkpoint alone.

The prompt is fed once; sampling starts from the state after its last token
and each token is written out as soon as it is drawn. Without ``--prompt``
generation starts from the first character of the training text, as the old
program did (rnnpy stores that character in the checkpoint).
"""

from __future__ import annotations

import secrets

from rnnpy import _core
from rnnpy.checkpoint import CheckpointError, load_checkpoint
from rnnpy.cli.console import RULE, Reporter
from rnnpy.cli.options import Options, UsageError, run_command
from rnnpy.cli.vocab import Vocab, vocab_for_checkpoint
from rnnpy.model import Model

USAGE = "python -m rnnpy generate --loadCheckpoint=PATH [--prompt=TEXT] [--temperature=T] [--genLength=N] [--seed=S]"


def rust_float(x: float) -> str:
    """How the old program printed an f32 with ``{}``: 0.8, 1, 0.0001."""
    s = repr(float(x))
    return s.removesuffix(".0")


def sample(
    model: Model,
    vocab: Vocab,
    prompt: str,
    length: int,
    temperature: float,
    seed: int,
    out: Reporter,
) -> str:
    """Feed ``prompt``, then draw ``length`` tokens, streaming them to ``out``.
    Returns the prompt followed by the generated tokens' strings."""
    ids = vocab.encode(prompt)
    if not ids:
        raise UsageError("the prompt is empty: give --prompt=TEXT")
    if not out.quiet:
        out.line(f"Temperature: {rust_float(temperature)}\nGenerated ({length} tokens):\n{RULE}")
    out.stream(prompt)
    state = model.new_state(1)
    sampler = _core.Sampler(seed)
    pieces = [prompt]
    show = vocab.printer()
    logits = None
    for tok in ids:
        logits = model.step(state, [tok])
    for _ in range(length):
        tok = sampler.sample(logits[0], temperature)
        piece = show(tok)
        pieces.append(piece)
        out.stream(piece)
        logits = model.step(state, [tok])
    out.stream("\n")
    if not out.quiet:
        out.line(f"{RULE}\n")
    return "".join(pieces)


def start_text(meta: dict | None, text: str | None) -> str:
    """The first character of the training text (stored by rnnpy; else from
    the text the old checkpoint was trained on)."""
    stored = (meta or {}).get("rnnpy", {}).get("start")
    if isinstance(stored, str) and stored:
        return stored
    if text:
        return text[0]
    raise UsageError("no prompt: give --prompt=TEXT")


def resolve_seed(opts: Options) -> int:
    return int(opts.seed) if opts.seed != "" else secrets.randbelow(2**32)


def run(opts: Options) -> int:
    if not opts.loadCheckpoint:
        raise UsageError("generate needs a checkpoint: --loadCheckpoint=PATH")
    out = Reporter(opts.quiet)
    try:
        ck = load_checkpoint(opts.loadCheckpoint)
    except CheckpointError as e:
        raise UsageError(str(e)) from None
    vocab, text = vocab_for_checkpoint(ck.metadata, ck.config.vocab_size, opts, opts.loadCheckpoint)
    prompt = opts.prompt or start_text(ck.metadata, text)
    seed = resolve_seed(opts)
    sample(ck.model, vocab, prompt, opts.genLength, opts.temperature, seed, out)
    return 0


def main(argv: list[str]) -> int:
    return run_command("generate", USAGE, argv, run)
