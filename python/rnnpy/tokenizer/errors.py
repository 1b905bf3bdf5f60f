"""The one exception the tokenizer raises for bad input."""

from __future__ import annotations

from rnnpy._core import RnnpyError


class TokenizerError(RnnpyError):
    """A tokenizer file, training text or id sequence that cannot be used.

    The message names the file (when there is one) and what did not fit.
    """
