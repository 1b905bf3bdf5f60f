"""Incremental BPE training over distinct whitespace-terminated pieces.

The old program recounted every pair of the whole text after every merge.
Here each distinct piece is kept once with its frequency, pair counts are kept
in a dict and changed only around the merged occurrences, ``where`` maps a
pair to the pieces that (may) contain it, and a heap with lazy invalidation
finds the most frequent pair.

Tie rule: among pairs with the highest count the one with the smallest
``(left id, right id)`` wins. Heap entries are ``(-count, left * K + right)``,
so plain tuple order is that rule.

Why lazy invalidation is exact: a merge of ``(a, b)`` into ``X`` only lowers
the counts of pairs without ``X`` and only raises pairs with ``X``; the latter
are pushed afresh after each merge. So every live pair always has a heap entry
whose count is >= its true count, and an entry that pops with its true count is
the true maximum (ties included). Entries that pop stale are re-pushed with the
current count.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable

from rnnpy.tokenizer.ids import BASE_OFFSET, FIRST_MERGE_ID, SPECIAL_TOKENS, split_pieces, to_byte_string

K = 1 << 24  # pair key = left * K + right; ids stay far below 2**24


@dataclass
class MergeStep:
    """What one merge did, handed to the progress callback."""

    number: int  # 1-based
    pair: tuple[int, int]
    string: str  # token string (one character per base id)
    count: int  # occurrences of the pair when it was merged
    vocab_size: int
    total: int  # merges asked for
    elapsed: float  # seconds since training started


@dataclass
class TrainResult:
    vocab: list[str]
    merges: list[tuple[int, int]]
    counts: list[int] = field(default_factory=list)
    stop_reason: str = "vocab_size"  # or "min_frequency" / "no_pairs"
    seconds: float = 0.0
    text_chars: int = 0
    distinct_pieces: int = 0


def initial_vocab() -> list[str]:
    vocab = [""] * FIRST_MERGE_ID
    for name, i in SPECIAL_TOKENS.items():
        vocab[i] = name
    for b in range(256):
        vocab[BASE_OFFSET + b] = chr(b)
    return vocab


def train_merges(
    text: str,
    num_merges: int,
    min_frequency: int,
    scheme: str,
    progress: Callable[[MergeStep], None] | None = None,
) -> TrainResult:
    start = time.perf_counter()
    # Distinct pieces with frequencies. Two texts can share a byte string under
    # latin1 ("Ä¡" and "ġ"), so counts are merged after the mapping.
    by_bytes: Counter[str] = Counter()
    for piece, freq in Counter(split_pieces(text)).items():
        by_bytes[to_byte_string(piece, scheme)] += freq
    words = [[b + BASE_OFFSET for b in s.encode("latin-1")] for s in by_bytes]
    freqs = list(by_bytes.values())

    counts: defaultdict[int, int] = defaultdict(int)
    where: defaultdict[int, set[int]] = defaultdict(set)
    for i, w in enumerate(words):
        f = freqs[i]
        for key in [a * K + b for a, b in zip(w, w[1:])]:
            counts[key] += f
            where[key].add(i)
    heap = [(-c, key) for key, c in counts.items()]
    heapq.heapify(heap)

    vocab = initial_vocab()
    result = TrainResult(vocab, [], text_chars=len(text), distinct_pieces=len(words))
    while len(result.merges) < num_merges:
        best = _pop_best(heap, counts)
        if best is None:
            result.stop_reason = "no_pairs"
            break
        key, count = best
        if count < min_frequency:
            result.stop_reason = "min_frequency"
            break
        a, b = divmod(key, K)
        new_id = len(vocab)
        _merge(words, freqs, counts, where, heap, a, b, new_id, where.pop(key))
        del counts[key]
        vocab.append(vocab[a] + vocab[b])
        result.merges.append((a, b))
        result.counts.append(count)
        if progress is not None:
            elapsed = time.perf_counter() - start
            progress(MergeStep(len(result.merges), (a, b), vocab[-1], count, len(vocab), num_merges, elapsed))
    result.seconds = time.perf_counter() - start
    return result


def _pop_best(heap: list[tuple[int, int]], counts: dict[int, int]) -> tuple[int, int] | None:
    """The (key, count) with the highest count, smallest key on ties; None if none."""
    while heap:
        neg, key = heap[0]
        current = counts.get(key, 0)
        if current == -neg:
            return key, current
        if current > 0:
            heapq.heapreplace(heap, (-current, key))
        else:
            heapq.heappop(heap)
    return None


def _merge(
    words: list[list[int]],
    freqs: list[int],
    counts: defaultdict[int, int],
    where: defaultdict[int, set[int]],
    heap: list[tuple[int, int]],
    a: int,
    b: int,
    new_id: int,
    pieces: set[int],
) -> None:
    """Replace (a, b) by new_id in ``pieces``, left to right without overlaps,
    adjusting only the pairs next to each occurrence."""
    touched: set[int] = set()  # pairs containing new_id: the only ones that grow
    touch = touched.add
    index = list.index
    bk, xk = b * K, new_id * K
    for i in pieces:
        w = words[i]
        f = freqs[i]
        j = 0
        n = len(w) - 1  # last index a pair can start at
        while j < n:
            try:
                j = index(w, a, j, n)
            except ValueError:
                break
            if w[j + 1] != b:
                j += 1
                continue
            if j:
                left = w[j - 1] * K  # already new_id if the previous pair merged
                counts[left + a] -= f
                key = left + new_id
                counts[key] += f
                where[key].add(i)
                touch(key)
            if j + 2 <= n:
                right = w[j + 2]
                counts[bk + right] -= f
                key = xk + right
                counts[key] += f
                where[key].add(i)
                touch(key)
            w[j : j + 2] = (new_id,)
            n -= 1
            j += 1
    for key in touched:
        c = counts[key]
        if c > 0:
            heapq.heappush(heap, (-c, key))
