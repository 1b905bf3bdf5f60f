"""The PyTorch baseline of issue 11: ``nn.GRU`` H256 E64, B32 T128, AdamW
2e-3 at a constant rate, random windows from zero state, trained for a fixed
wall time on the first 90% of tiny Shakespeare and scored on the last 10%
exactly as ``quality.py`` scores rnnpy (32 contiguous streams, state
carried, every position counted). Prints one JSON line.

    python benchmarks/quality_gru.py --seconds 300 --threads 2 --seed 1

Needs torch and numpy (not rnnpy); quality.py runs it in its own process.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"


class CharGRU(nn.Module):
    def __init__(self, vocab: int, embed: int = 64, hidden: int = 256) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.gru = nn.GRU(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        out, h = self.gru(self.embed(x), h)
        return self.head(out), h


def held_out_nats(model: CharGRU, ids: np.ndarray, streams: int = 32, window: int = 256) -> float:
    """Mean NLL of ids[1:]: streams 0..S-2 of P//S positions, the last stream the rest; state carried."""
    p = len(ids) - 1
    length = p // streams
    parts = [(ids[: (streams - 1) * length + 1], streams - 1, length), (ids[(streams - 1) * length :], 1, None)]
    total = 0.0
    with torch.no_grad():
        for t, s, n in parts:
            n = n if n is not None else len(t) - 1
            x = torch.from_numpy(t[:-1][: s * n].reshape(s, n))
            y = torch.from_numpy(t[1:][: s * n].reshape(s, n))
            h = None
            for a in range(0, n, window):
                logits, h = model(x[:, a : a + window], h)
                target = y[:, a : a + window].flatten()
                total += nn.functional.cross_entropy(logits.flatten(0, 1), target, reduction="sum").item()
    return total / p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", type=Path, default=DATA)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    text = a.data.read_text(encoding="utf-8")
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    ids = np.array([lookup[c] for c in text], dtype=np.int64)
    cut = int(len(ids) * 0.9)
    train, val = ids[:cut], ids[cut:]
    model = CharGRU(len(chars))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    rng = np.random.default_rng(a.seed)
    span = np.arange(128)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < a.seconds:
        at = rng.integers(0, len(train) - 129, size=32)[:, None] + span
        x, y = torch.from_numpy(train[at]), torch.from_numpy(train[at + 1])
        logits, _ = model(x)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps += 1
    seconds = time.perf_counter() - t0
    nats = held_out_nats(model, val)
    row = {"model": "nn.GRU H256 E64, B32 T128, AdamW 2e-3, random windows", "threads": a.threads, "seed": a.seed}
    row |= {"seconds": seconds, "steps": steps, "tokens": steps * 32 * 128, "tokens_per_s": steps * 32 * 128 / seconds}
    print(json.dumps(row | {"val_nats_per_char": nats, "val_bits_per_char": nats / math.log(2)}))


if __name__ == "__main__":
    main()
