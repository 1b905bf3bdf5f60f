"""The rnnpy model as a ``torch.nn.Module``, for the tools that expect one.

    import rnnpy.torch
    module = rnnpy.torch.load("outdir/")           # an export directory (python -m rnnpy export)
    logits = module(tokens)                        # tokens: int64 [B, T] -> float32 [B, T, V]
    logits, state = module.forward_with_state(tokens, state)   # carry the recurrent state on

Written from spec/MODEL.md, one time step at a time as the equations read
(the input-side products hoisted out of the time loop), in float32; its
logits match rnnpy's within 1e-5. The parameters keep MODEL.md's names, so
``module.state_dict()`` has the keys and shapes of ``model.safetensors``
(``safetensors.torch.load_file`` loads straight into it). torch is imported
on first use and is never a dependency of rnnpy.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from rnnpy.errors import require
from rnnpy.model import CONFIG_FIELDS, Model, ModelConfig

RMS_EPS = (1e-6, 1e-8)  # added one after the other, in float32, as the core does
WKV_EPS = 1e-8
ROUTER_EPS = 1e-8


def _torch() -> Any:
    return require("torch", "rnnpy.torch", "torch")


def load(directory: str | os.PathLike[str]) -> Any:
    """The module of an export directory (``model.safetensors`` + ``config.json``)."""
    from rnnpy import export

    return from_model(export.read(directory).checkpoint.model)


def from_model(model: Model) -> Any:
    """A module holding copies of ``model``'s parameters."""
    torch = _torch()
    module = module_class()(model.config)
    state = {name: torch.from_numpy(np.array(value)) for name, value in model.parameters().items()}
    module.load_state_dict(state, strict=True)
    return module


@functools.lru_cache(maxsize=1)
def module_class() -> Any:
    """``RnnpyModule``, defined once torch is imported."""
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional
    Module: Any = nn.Module

    def param(*shape: int) -> Any:
        return nn.Parameter(torch.zeros(*shape, dtype=torch.float32))

    def rmsnorm(x: Any, g: Any) -> Any:
        ms = (x * x).mean(-1, keepdim=True)
        return x * (1.0 / torch.sqrt(ms + RMS_EPS[0] + RMS_EPS[1])) * g

    class Expert(Module):  # type: ignore[misc]
        def __init__(self, h: int) -> None:
            super().__init__()
            self.w_gate, self.w_up, self.w_down = param(h, 2 * h), param(h, 2 * h), param(2 * h, h)

        def forward(self, n: Any) -> Any:
            return (F.silu(n @ self.w_gate) * (n @ self.w_up)) @ self.w_down

    class MoE(Module):  # type: ignore[misc]
        def __init__(self, h: int, num_experts: int, k: int) -> None:
            super().__init__()
            self.k = k
            self.norm = param(h)
            self.experts = nn.ModuleList([Expert(h) for _ in range(num_experts)])
            if num_experts > 1:
                self.router = param(h, num_experts - 1)

        def forward(self, out: Any) -> Any:
            n = rmsnorm(out, self.norm)
            y = self.experts[0](n)
            if len(self.experts) == 1 or self.k == 0:
                return y
            logits = n @ self.router
            e = torch.exp(logits - logits.max(-1, keepdim=True).values)
            p = e / (e.sum(-1, keepdim=True) + ROUTER_EPS)
            chosen = torch.sort(p.detach(), dim=-1, descending=True, stable=True).indices[:, : self.k]
            weight = torch.zeros_like(p).scatter(-1, chosen, 1.0) * p  # p_j on S, 0 elsewhere
            scale = 1.0 / (weight.sum(-1, keepdim=True) + 1.0 + ROUTER_EPS)
            y = y * scale
            for j, expert in enumerate(self.experts[1:]):
                y = y + expert(n) * (weight[:, j : j + 1] * scale)
            return y

    class Cell(Module):  # type: ignore[misc]
        """The GRU cell and, with RWKV, its linear attention on the candidate."""

        def __init__(self, i: int, h: int, use_rwkv: bool) -> None:
            super().__init__()
            self.use_rwkv = use_rwkv
            for g in "zrh":
                setattr(self, f"w{g}", param(i, h))
                setattr(self, f"u{g}", param(h, h))
                setattr(self, f"b{g}", param(h))
            self.input_norm, self.hidden_norm = param(i), param(h)
            if use_rwkv:
                self.wk, self.wv, self.wo = param(h, h), param(h, h), param(h, h)
                self.time_decay_proj, self.time_first_proj = param(h, h), param(h, h)
                self.time_decay, self.time_first = param(h), param(h)
                self.mix_k, self.mix_v, self.mix_r = param(h), param(h), param(h)

        def inputs(self, x: Any) -> tuple[Any, Any, Any]:
            """The input side of the three gates for every step at once: x [B, T, I] -> 3 × [B, T, H]."""
            xn = rmsnorm(x, self.input_norm)
            return xn @ self.wz + self.bz, xn @ self.wr + self.br, xn @ self.wh + self.bh

        def step(self, xz: Any, xr: Any, xh: Any, st: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            s = st["s"]
            hn = rmsnorm(s, self.hidden_norm)
            z = torch.sigmoid(xz + hn @ self.uz)
            r = torch.sigmoid(xr + hn @ self.ur)
            c = torch.tanh(xh + (r * hn) @ self.uh)
            new: dict[str, Any] = {}
            if self.use_rwkv:
                num, den, xp = st["num"], st["den"], st["xp"]
                sk = (1 - self.mix_k) * xp + self.mix_k * c
                sv = (1 - self.mix_v) * xp + self.mix_v * c
                sr = (1 - self.mix_r) * xp + self.mix_r * c
                k = torch.clamp(sk @ self.wk, -10.0, 10.0)
                v = sv @ self.wv
                w = self.time_decay + 0.5 * torch.tanh(c @ self.time_decay_proj)
                u = self.time_first + 0.3 * torch.tanh(c @ self.time_first_proj)
                decay = torch.exp(-torch.exp(w))
                euk = torch.exp(u + k)
                wkv = (euk * v + num) / (euk + den + WKV_EPS)
                new = {"num": decay * num + torch.exp(k) * v, "den": decay * den + torch.exp(k), "xp": c}
                c = c + (torch.sigmoid(sr) * wkv) @ self.wo
            return (1 - z) * s + z * c, new

    class Layer(Module):  # type: ignore[misc]
        def __init__(self, c: ModelConfig, index: int) -> None:
            super().__init__()
            i, h = (c.embed_size if index == 0 else c.hidden_size), c.hidden_size
            self.skip = index > 0 and c.num_layers > 1
            self.cell = Cell(i, h, c.use_rwkv)
            self.moe = None if c.fast_mode else MoE(h, c.num_experts, min(c.top_k, c.num_experts - 1))
            if i != h:
                self.proj_in = param(i, h)

        def forward(self, x: Any, st: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            """x [B, T, I] -> out [B, T, H], the state carried through the T steps."""
            xz, xr, xh = self.cell.inputs(x)
            residual = x @ self.proj_in if hasattr(self, "proj_in") else x
            outs = []
            for t in range(x.shape[1]):
                h, rwkv = self.cell.step(xz[:, t], xr[:, t], xh[:, t], st)
                out = h + residual[:, t]
                if self.moe is not None:
                    out = out + self.moe(out)
                if self.skip:
                    out = out + 0.5 * x[:, t]
                st = {"s": out, **rwkv}
                outs.append(out)
            return torch.stack(outs, 1), st

    class RnnpyModule(Module):  # type: ignore[misc]
        """spec/MODEL.md's model; ``forward(tokens [B, T]) -> logits [B, T, V]`` from zero state."""

        def __init__(self, config: ModelConfig) -> None:
            super().__init__()
            self.config = config
            self.embedding = nn.Module()
            self.embedding.weight = param(config.vocab_size, config.embed_size)
            self.layers = nn.ModuleList([Layer(config, i) for i in range(config.num_layers)])
            self.output_norm = param(config.hidden_size)
            self.output_proj = param(config.hidden_size, config.vocab_size)

        def zero_state(self, batch: int) -> list[dict[str, Any]]:
            """Every layer's `s` (and RWKV's `num`, `den`, `xp`), zeros `[B, H]`."""
            keys = ("s", "num", "den", "xp") if self.config.use_rwkv else ("s",)
            z = self.output_norm.new_zeros
            return [{k: z(batch, self.config.hidden_size) for k in keys} for _ in self.layers]

        def forward_with_state(self, tokens: Any, state: list[dict[str, Any]] | None = None) -> tuple[Any, Any]:
            """Logits `[B, T, V]` and the state after the last token (pass it back to go on)."""
            x = self.embedding.weight[tokens.clamp(max=self.config.vocab_size - 1)]
            state = self.zero_state(tokens.shape[0]) if state is None else state
            new_state = []
            for layer, st in zip(self.layers, state):
                x, st = layer(x, st)
                new_state.append(st)
            return rmsnorm(x, self.output_norm) @ self.output_proj, new_state

        def forward(self, tokens: Any) -> Any:
            return self.forward_with_state(tokens)[0]

        def extra_repr(self) -> str:
            return ", ".join(f"{f}={getattr(self.config, f)}" for f in CONFIG_FIELDS)

    return RnnpyModule
