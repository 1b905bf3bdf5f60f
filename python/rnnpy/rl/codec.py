"""Character-level encoding for RL tasks: one token per character.

A model's vocabulary is a list of characters (index = token id), as the
character-level training path builds it (the sorted distinct characters of
the training text). Answers end at a newline or `|`; those are the stop ids.
"""

from __future__ import annotations

from collections.abc import Sequence

from rnnpy.rl.tasks import STOP_CHARS, Task


class CharCodec:
    def __init__(self, vocab: Sequence[str]) -> None:
        chars = list(vocab)
        if any(len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise ValueError("an RL vocabulary is a list of distinct single characters")
        self.vocab = chars
        self.index = {c: i for i, c in enumerate(chars)}
        self.stop_ids = [self.index[c] for c in STOP_CHARS if c in self.index]
        if not self.stop_ids:
            raise ValueError("the vocabulary has no newline (or '|'), so no answer could end")

    @classmethod
    def from_text(cls, text: str) -> CharCodec:
        """The vocabulary of character-level training: sorted distinct characters."""
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.vocab)

    def check_task(self, task: Task) -> None:
        missing = sorted(set(task.alphabet + "\n") - set(self.vocab))
        if missing:
            raise ValueError(
                f"the model's vocabulary lacks characters task '{task.name}' needs: {''.join(missing)!r}; "
                "train on a corpus from `python -m rnnpy tasks` (or one containing these characters)"
            )

    def encode(self, text: str) -> list[int]:
        try:
            return [self.index[c] for c in text]
        except KeyError as e:
            raise ValueError(f"character {e.args[0]!r} is not in the model's vocabulary") from None

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.vocab[i] for i in ids)
