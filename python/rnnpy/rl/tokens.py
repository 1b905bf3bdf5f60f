"""A task's text in a model's tokens: which ids end an answer, whether the
vocabulary can spell the task at all, and the character vocabulary that can.

RL works on either kind of vocabulary (rnnpy.vocab): prompts are encoded
with it and completions decoded before the verifier sees them. A BPE
tokenizer spells every character through its byte tokens; a character
vocabulary only the characters it was built from.
"""

from __future__ import annotations

from rnnpy.errors import TaskError
from rnnpy.rl.tasks import STOP_CHARS, Task
from rnnpy.vocab import CharVocab, Vocab


def stop_ids(vocab: Vocab) -> list[int]:
    """The ids whose text holds a stop character (newline, `|`): a completion
    ends after the first of them. For BPE that includes merged tokens such as
    `"7\\n"` (the answer is cut at the stop character itself)."""
    ids = [i for i in range(vocab.size) if any(c in vocab.token(i) for c in STOP_CHARS)]
    if not ids:
        raise TaskError("the vocabulary has no newline (or '|'), so no answer could end")
    return ids


def needed_chars(task: Task) -> str:
    """Every character the task's prompts and answers (both ranges) use, and the newline."""
    return "".join(sorted(set(task.alphabet + "\n")))


def missing_chars(vocab: Vocab, chars: str) -> str:
    """The characters of `chars` that `vocab` cannot encode and decode back."""
    if isinstance(vocab, CharVocab):
        return "".join(c for c in chars if c not in vocab)
    out = []
    for c in chars:
        try:
            ok = vocab.decode(vocab.encode(c)) == c
        except ValueError:  # TokenizerError is one
            ok = False
        if not ok:
            out.append(c)
    return "".join(out)


def check_vocab(vocab: Vocab, task: Task) -> None:
    """A vocabulary must spell every character `task` uses and end answers with a newline."""
    missing = missing_chars(vocab, needed_chars(task))
    if missing:
        raise TaskError(
            f"the model's vocabulary lacks characters task '{task.name}' needs: {missing!r}; "
            "train on a corpus from `python -m rnnpy tasks` (or one containing these characters)"
        )
    stop_ids(vocab)


def covering_vocab(text: str, task: Task) -> tuple[CharVocab, str]:
    """The character vocabulary of `text` plus whatever `task` needs, and the
    characters added: training and RL in one command (`train --doRL`) build
    it, so that RL can run on a model trained on any text."""
    added = "".join(sorted(set(needed_chars(task)) - set(text)))
    return CharVocab.from_text(text + added), added
