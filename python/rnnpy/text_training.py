"""``rnnpy.train_text``: the ``train`` command's run from Python, on a string.

The options are the command's model and training options, by their Python
names (``hidden_size``, ``epochs``, ``learning_rate``...) or their
command-line spellings (``hiddenSize``), with the same defaults and checks
(one table: ``rnnpy.cli.options``). The loop is the command's own
(``rnnpy.training.train`` over the same batch source, budget and
schedule), and so is the seeding: the same text, options and
seed give the same weights as ``python -m rnnpy train``.
"""

from __future__ import annotations

import difflib
import os
import secrets
from typing import Any

import numpy as np

from rnnpy import __version__
from rnnpy.batching import batch_source
from rnnpy.errors import InputError
from rnnpy.lm import LanguageModel
from rnnpy.metadata import RngState, RunMetadata
from rnnpy.model import Model
from rnnpy.schedule import Plan
from rnnpy.tokenizer import BPETokenizer
from rnnpy.trainer import Trainer
from rnnpy.training import EpochResult, StopFlag, catch_sigint, train
from rnnpy.vocab import BPEVocab, CharVocab, Vocab


def train_text(
    text: str,
    *,
    seed: int | None = None,
    tokenizer: str | os.PathLike[str] | BPETokenizer | None = None,
    bpe_vocab_size: int | None = None,
    progress: bool = False,
    **options: Any,
) -> LanguageModel:
    """Trains a new model on ``text`` and returns it with its vocabulary.

    Characters by default; BPE with ``tokenizer`` (a ``tokenizer.json`` path
    or a ``BPETokenizer``) or ``bpe_vocab_size`` (one is trained on the text,
    as ``train --useBPE`` does). ``seed`` None draws one (kept in
    ``lm.metadata.seed``). ``progress`` prints the command's epoch lines
    (and a live bar in a terminal). Ctrl-C stops within the current step
    and returns the model of the last completed epoch
    (``lm.metadata.interrupted``). ``python -m rnnpy train --help`` lists
    the options; an unknown one is a TypeError, a bad value an InputError.
    """
    from rnnpy.cli.console import Reporter
    from rnnpy.cli.options import ModelOptions, TrainingOptions

    model_opts, train_opts = _option_groups(options, (ModelOptions, TrainingOptions))
    if seed is None:
        seed = secrets.randbelow(2**32)
    elif seed < 0:
        raise InputError(f"seed must be non-negative, got {seed}")
    vocab = _vocabulary(text, tokenizer, bpe_vocab_size)
    source = batch_source(
        train_opts.batching, np.asarray(vocab.encode(text)), train_opts.seq_length, train_opts.batch_size
    )
    schedule = train_opts.schedule()
    plan = Plan(train_opts.budget(), None if schedule.is_constant else schedule)
    model = Model(model_opts.config(vocab.size), seed=seed)
    trainer = Trainer(model, train_opts.learning_rate, train_opts.weight_decay, train_opts.grad_clip)
    rng = np.random.Generator(np.random.PCG64(seed))
    out = Reporter(quiet=not progress)

    def on_epoch(r: EpochResult) -> None:
        out.epoch(r, r.epoch % train_opts.log_every == 0 or r.epoch == 1)

    stop = StopFlag()
    out.start_training(f"epoch {{task.fields[epoch]}}/{train_opts.epochs}")
    try:
        with catch_sigint(stop):
            result = train(
                trainer,
                source,
                plan,
                rng=rng,
                on_epoch=on_epoch,
                on_tick=out.tick,
                stop=stop,
                skip_non_finite=train_opts.skip_non_finite,
            )
    finally:
        out.stop_training()
    out.line(f"{'Interrupted' if result.interrupted else 'Done'} after epoch {result.epoch} in {result.elapsed:.1f}s")
    meta = RunMetadata(
        epoch=result.epoch,
        loss=result.best_loss if not result.interrupted else result.last_loss,
        completed=not result.interrupted,
        time=f"{result.elapsed:.1f}",
        interrupted=result.interrupted,
        version=__version__,
        vocab=vocab,
        start=text[:1],
        seed=seed,
        rng=RngState.of(rng),
        options={**_named(model_opts), **_named(train_opts)},
        last_loss=result.last_loss,
    )
    return LanguageModel(model, vocab, start=text[:1], metadata=meta, trainer=trainer)


def _vocabulary(
    text: str, tokenizer: str | os.PathLike[str] | BPETokenizer | None, bpe_vocab_size: int | None
) -> Vocab:
    if tokenizer is not None and bpe_vocab_size is not None:
        raise InputError("give tokenizer or bpe_vocab_size, not both")
    if tokenizer is not None:
        return BPEVocab(tokenizer if isinstance(tokenizer, BPETokenizer) else BPETokenizer.load(tokenizer))
    if bpe_vocab_size is not None:
        return BPEVocab(BPETokenizer.train(text, vocab_size=bpe_vocab_size))
    return CharVocab.from_text(text)


def _option_groups(values: dict[str, Any], groups: tuple[type, ...]) -> list[Any]:
    """Each group filled from `values` (by field name or option spelling), its defaults elsewhere."""
    from rnnpy.cli.options import OPTIONS, key

    table = {key(n): o for o in OPTIONS if o.group in groups for n in (o.name, o.field, *o.aliases)}
    fields: dict[type, dict[str, Any]] = {g: {} for g in groups}
    for name, value in values.items():
        o = table.get(key(name))
        if o is None:
            close = difflib.get_close_matches(key(name), table, n=1)
            hint = f" (did you mean {table[close[0]].field}?)" if close else ""
            raise TypeError(f"train_text() got an unknown option {name!r}{hint}")
        try:
            fields[o.group][o.field] = o.checked(value)
        except TypeError as e:
            raise TypeError(f"train_text() option {name}: {e}") from None
        except ValueError as e:
            raise InputError(f"train_text() option {name}: {e}, got {value!r}") from None
    return [g(**fields[g]) for g in groups]


def _named(group: object) -> dict[str, Any]:
    """A group's values by option name, as a checkpoint records the command line."""
    from rnnpy.cli.options import option_names

    return {name: getattr(group, field) for field, name in option_names(type(group)).items()}
