"""Encoding and decoding with a fixed merge table.

The old program encoded by taking the base ids of the whole text and then
applying every merge in order, each replacing its pair left to right without
overlaps. Doing that literally costs (merges x text length). Two facts make it
cheap without changing a single id:

* merges never span a cut after ASCII whitespace (see ids.CHUNK_RE), so each
  distinct chunk is encoded once and cached;
* inside a chunk, "apply merge 0, then 1, ..." equals "repeatedly apply the
  lowest-ranked merge present": a merge only ever creates a token whose id is
  at least 260 + its rank, and a merge can only use tokens older than itself,
  so applying merge k never creates a pair of a lower-ranked merge.
"""

from __future__ import annotations

from rnnpy.tokenizer.errors import TokenizerError
from rnnpy.tokenizer.ids import BASE_OFFSET, base_ids, from_byte_string, split_chunks

_CACHE_LIMIT = 500_000  # distinct chunks kept; cleared wholesale beyond this


class MergeTable:
    """Merges plus the vocabulary strings, ready to encode and decode."""

    def __init__(self, vocab: list[str], merges: list[tuple[int, int]], scheme: str) -> None:
        self.vocab = vocab
        self.merges = merges
        self.scheme = scheme
        self.special_ids = frozenset(range(BASE_OFFSET))
        # The id of a merge's result is looked up by its string; when two
        # merges made the same string the old program's lookup held the later
        # id, and so does this one (ids ascend, so the last write wins).
        by_string = {s: i for i, s in enumerate(vocab)}
        self.ranks: dict[tuple[int, int], tuple[int, int]] = {}
        for rank, (a, b) in enumerate(merges):
            new_id = by_string[vocab[a] + vocab[b]]
            self.ranks.setdefault((a, b), (rank, new_id))
        self._cache: dict[str, list[int]] = {}

    def encode(self, text: str) -> list[int]:
        out: list[int] = []
        cache = self._cache
        for chunk in split_chunks(text):
            ids = cache.get(chunk)
            if ids is None:
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                ids = cache[chunk] = self._encode_chunk(base_ids(chunk, self.scheme))
            out.extend(ids)
        return out

    def _encode_chunk(self, ids: list[int]) -> list[int]:
        ranks = self.ranks
        while len(ids) > 1:
            best = None
            for pair in zip(ids, ids[1:]):
                found = ranks.get(pair)
                if found is not None and (best is None or found < best):
                    best = found
            if best is None:
                break
            rank, new_id = best
            a, b = self.merges[rank]
            merged: list[int] = []
            i, n = 0, len(ids)
            while i < n:
                if i + 1 < n and ids[i] == a and ids[i + 1] == b:
                    merged.append(new_id)
                    i += 2
                else:
                    merged.append(ids[i])
                    i += 1
            ids = merged
        return ids

    def decode(self, ids: list[int]) -> str:
        vocab, special = self.vocab, self.special_ids
        n = len(vocab)
        parts = []
        for i in ids:
            if not 0 <= i < n:
                raise TokenizerError(f"token id {i} is outside the vocabulary (size {n})")
            if i not in special:
                parts.append(vocab[i])
        return from_byte_string("".join(parts), self.scheme)
