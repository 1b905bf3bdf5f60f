"""The PyTorch peer of the speed comparison: ../shared/bench/torch_ref.py, an
independent, well-batched implementation of spec/MODEL.md (input side hoisted
out of the time loop, fused per-step matmuls, dense or sparse MoE). This file
only adapts it: the same parameters as an rnnpy model, AdamW + clip as
rnnpy's Trainer, a greedy step loop.

    R = load()                                  # the torch_ref module
    peer = Peer(rnnpy_model, moe="dense")
    peer.train_step(x, y)                       # [B, T] int64 tensors
    peer.greedy(first_token, n)                 # batch 1
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

HERE = Path(__file__).resolve().parent
CANDIDATES = [HERE.parents[1] / "shared" / "bench" / "torch_ref.py", Path("/work/shared/bench/torch_ref.py")]


def path() -> Path | None:
    return next((p for p in CANDIDATES if p.exists()), None)


def load() -> ModuleType:
    """Imports torch_ref.py (it needs torch and numpy)."""
    p = path()
    if p is None:
        raise FileNotFoundError("the PyTorch peer ../shared/bench/torch_ref.py is missing")
    if "torch_ref" in sys.modules:
        return sys.modules["torch_ref"]
    spec = importlib.util.spec_from_file_location("torch_ref", p)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["torch_ref"] = mod  # its dataclasses look themselves up here
    spec.loader.exec_module(mod)
    return mod


class Peer:
    """torch_ref's RefModel holding an rnnpy model's parameters."""

    def __init__(self, model, moe: str = "dense", learning_rate: float = 1e-3, weight_decay: float = 0.01) -> None:
        import torch

        R = load()
        c = model.config
        cfg = R.Config(
            vocab_size=c.vocab_size,
            embed_size=c.embed_size,
            hidden_size=c.hidden_size,
            num_layers=c.num_layers,
            fast_mode=c.fast_mode,
            use_rwkv=c.use_rwkv,
            num_experts=c.num_experts,
            top_k=c.top_k,
            num_heads=c.num_heads,
        )
        flat = np.concatenate([v.ravel() for v in model.parameters().values()])
        self.torch, self.moe = torch, moe
        self.model = R.RefModel.from_flat(cfg, c.vocab_size, flat)
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay
        )

    def loss(self, x, y):
        return self.model.loss(x, y, impl="fast", moe=self.moe)

    def logits(self, x):
        return self.model.logits(x, impl="fast", moe=self.moe)

    def train_step(self, x, y) -> float:
        """Forward + backward (full BPTT) + global-norm clip 1.0 + AdamW, as rnnpy's Trainer."""
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(x, y)
        loss.backward()
        self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        return float(loss.item())

    def grads(self) -> dict[str, np.ndarray]:
        return {n: p.grad.detach().numpy().copy() for n, p in self.model.named_parameters()}

    def greedy_batch(self, tokens, n: int) -> None:
        """`n` greedy steps of `len(tokens)` sequences, state carried."""
        torch = self.torch
        with torch.no_grad():
            state, tok = None, torch.as_tensor(tokens)
            for _ in range(n):
                logits, state = self.model.step(tok, state, impl="fast", moe=self.moe)
                tok = logits.argmax(1)

    def greedy(self, first: int, n: int) -> list[int]:
        """The first token, then `n` argmax tokens (batch 1)."""
        torch = self.torch
        out = [first]
        with torch.no_grad():
            state, tok = None, torch.tensor([first])
            for _ in range(n):
                logits, state = self.model.step(tok, state, impl="fast", moe=self.moe)
                tok = logits.argmax(1)
                out.append(int(tok))
        return out
