"""The model of spec/MODEL.md in plain PyTorch eager (float32), for the speed
comparison in benchmarks/run.py: what a user would write instead of rnnpy.

Same batched schedule as rnnpy: the input-side projections are single GEMMs over
all B·T positions, the recurrence runs step by step over B rows, the MoE block
groups each step's rows per routed expert, and autograd gives full BPTT.
Parameters carry MODEL.md's names, so `load(model.parameters())` takes an rnnpy
model's weights and the two compute the same logits.

    tm = TorchModel.from_rnnpy(rnnpy_model)
    logits = tm(inputs)                       # [B, T] int64 -> [B, T, V]
    loss = tm.loss(inputs, targets)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

EPS_NORM = 1e-6 + 1e-8  # MODEL.md's rmsnorm constant, as written


def rmsnorm(x: Tensor, g: Tensor) -> Tensor:
    # x: (..., N) -> (..., N)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS_NORM) * g


def param_shapes(v: int, e: int, h: int, layers: int, experts: int, fast: bool, rwkv: bool) -> list[tuple[str, tuple]]:
    """MODEL.md's parameter table: names and shapes in checkpoint order."""
    out: list[tuple[str, tuple]] = [("embedding.weight", (v, e))]
    for l in range(layers):
        i, p = (e if l == 0 else h), f"layers.{l}."
        for g in "zrh":
            out += [(f"{p}cell.w{g}", (i, h)), (f"{p}cell.u{g}", (h, h)), (f"{p}cell.b{g}", (h,))]
        out += [(f"{p}cell.input_norm", (i,)), (f"{p}cell.hidden_norm", (h,))]
        if rwkv:
            out += [(f"{p}cell.{n}", (h, h)) for n in ("wk", "wv", "wo", "time_decay_proj", "time_first_proj")]
            out += [(f"{p}cell.{n}", (h,)) for n in ("time_decay", "time_first", "mix_k", "mix_v", "mix_r")]
        if not fast:
            out.append((f"{p}moe.norm", (h,)))
            for x in range(experts):
                q = f"{p}moe.experts.{x}."
                out += [(q + "w_gate", (h, 2 * h)), (q + "w_up", (h, 2 * h)), (q + "w_down", (2 * h, h))]
            if experts > 1:
                out.append((f"{p}moe.router", (h, experts - 1)))
        if i != h:
            out.append((f"{p}proj_in", (i, h)))
    return out + [("output_norm", (h,)), ("output_proj", (h, v))]


class TorchModel(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embed_size: int = 16,
        hidden_size: int = 32,
        num_layers: int = 1,
        num_heads: int = 4,
        num_experts: int = 4,
        top_k: int = 1,
        fast_mode: bool = False,
        use_rwkv: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.V, self.E, self.H, self.L = vocab_size, embed_size, hidden_size, num_layers
        self.NE, self.fast, self.rwkv = num_experts, fast_mode, use_rwkv
        self.k = min(top_k, num_experts - 1)
        self.shapes = param_shapes(vocab_size, embed_size, hidden_size, num_layers, num_experts, fast_mode, use_rwkv)
        gen = torch.Generator().manual_seed(seed)
        # Plain random init (the benchmark always loads rnnpy's weights instead).
        self.params = nn.ParameterList(
            nn.Parameter(torch.randn(shape, generator=gen) * (0.1 if len(shape) == 2 else 0.0) + (len(shape) == 1))
            for _, shape in self.shapes
        )
        self.index = {name: j for j, (name, _) in enumerate(self.shapes)}

    @classmethod
    def from_rnnpy(cls, model) -> TorchModel:
        c = model.config
        tm = cls(
            c.vocab_size, c.embed_size, c.hidden_size, c.num_layers, c.num_heads,
            c.num_experts, c.top_k, c.fast_mode, c.use_rwkv,
        )  # fmt: skip
        tm.load(model.parameters())
        return tm

    def load(self, params: Mapping[str, np.ndarray]) -> None:
        """Copies parameters by MODEL.md name (all must be present, shapes must match)."""
        with torch.no_grad():
            for name, shape in self.shapes:
                value = torch.from_numpy(np.ascontiguousarray(params[name], dtype=np.float32))
                self.p(name).copy_(value.reshape(shape))

    def p(self, name: str) -> Tensor:
        return self.params[self.index[name]]

    def grads(self) -> dict[str, np.ndarray]:
        return {n: self.p(n).grad.numpy().copy() for n, _ in self.shapes if self.p(n).grad is not None}

    # ---- one forward's view of the weights: concatenations done once, not per step
    def _weights(self) -> list[dict]:
        ws = []
        for l in range(self.L):
            c = f"layers.{l}.cell."
            w = {
                "w_in": torch.cat([self.p(c + "wz"), self.p(c + "wr"), self.p(c + "wh")], 1),  # [I, 3H]
                "b_in": torch.cat([self.p(c + "bz"), self.p(c + "br"), self.p(c + "bh")]),
                "u_zr": torch.cat([self.p(c + "uz"), self.p(c + "ur")], 1),  # [H, 2H]
                "uh": self.p(c + "uh"),
                "input_norm": self.p(c + "input_norm"),
                "hidden_norm": self.p(c + "hidden_norm"),
                "proj_in": self.p(f"layers.{l}.proj_in") if (self.E if l == 0 else self.H) != self.H else None,
            }
            if self.rwkv:
                for n in ("wk", "wv", "wo", "time_decay", "time_first", "mix_k", "mix_v", "mix_r"):
                    w[n] = self.p(c + n)
                w["wu"] = torch.cat([self.p(c + "time_decay_proj"), self.p(c + "time_first_proj")], 1)  # [H, 2H]
            if not self.fast:
                m = f"layers.{l}.moe."
                w["moe_norm"] = self.p(m + "norm")
                w["experts"] = [
                    (torch.cat([self.p(f"{m}experts.{x}.w_gate"), self.p(f"{m}experts.{x}.w_up")], 1),
                     self.p(f"{m}experts.{x}.w_down"))
                    for x in range(self.NE)
                ]  # fmt: skip
                w["router"] = self.p(m + "router") if self.NE > 1 else None
            ws.append(w)
        return ws

    def zero_state(self, b: int) -> list[list[Tensor]]:
        """Per layer: [s, num, den, xp], each [B, H] zeros."""
        return [[torch.zeros(b, self.H) for _ in range(4 if self.rwkv else 1)] for _ in range(self.L)]

    # ---- MODEL.md, "One layer at one time step"
    def _cell(self, w: dict, a: Tensor, skip: Tensor, x_half: Tensor | None, st: list[Tensor]) -> tuple[Tensor, list]:
        # a: (B, 3H) input-side pre-activations; skip: (B, H); st: [s, num, den, xp]
        H, s = self.H, st[0]
        hn = rmsnorm(s, w["hidden_norm"])
        zr = torch.sigmoid(a[:, : 2 * H] + hn @ w["u_zr"])
        z, r = zr[:, :H], zr[:, H:]
        c = torch.tanh(a[:, 2 * H :] + (r * hn) @ w["uh"])
        new = []
        if self.rwkv:
            num, den, xp = st[1], st[2], st[3]
            sk = torch.lerp(xp, c, w["mix_k"])  # (1 − m) ⊙ xp + m ⊙ c
            sv = torch.lerp(xp, c, w["mix_v"])
            sr = torch.lerp(xp, c, w["mix_r"])
            k = torch.clamp(sk @ w["wk"], -10.0, 10.0)
            v = sv @ w["wv"]
            wu = torch.tanh(c @ w["wu"])
            wd = w["time_decay"] + 0.5 * wu[:, :H]
            u = w["time_first"] + 0.3 * wu[:, H:]
            decay = torch.exp(-torch.exp(wd))
            euk = torch.exp(u + k)
            wkv = (euk * v + num) / (euk + den + 1e-8)
            ek = torch.exp(k)
            new = [decay * num + ek * v, decay * den + ek, c]
            c = c + (torch.sigmoid(sr) * wkv) @ w["wo"]
        out = torch.lerp(s, c, z) + skip  # (1 − z) ⊙ s + z ⊙ c
        if not self.fast:
            out = out + self._moe(w, out)
        if x_half is not None:
            out = out + 0.5 * x_half
        return out, [out, *new]

    # ---- MODEL.md, "Mixture of experts"; rows grouped per routed expert
    def _moe(self, w: dict, out: Tensor) -> Tensor:
        n = rmsnorm(out, w["moe_norm"])  # (B, H)
        y = self._expert(w["experts"][0], n)
        if w["router"] is None or self.k == 0:
            return y
        lg = n @ w["router"]  # (B, NE − 1)
        e = torch.exp(lg - lg.max(1, keepdim=True).values)
        p = e / (e.sum(1, keepdim=True) + 1e-8)
        top_p, top_i = torch.topk(p, self.k, dim=1)
        inv = 1.0 / (top_p.sum(1, keepdim=True) + 1.0 + 1e-8)  # 1/(T + 1e-8)
        y = y * inv
        coef = top_p * inv  # (B, k)
        for j in range(self.NE - 1):
            hit = top_i == j  # (B, k)
            rows = hit.any(1).nonzero().squeeze(1)
            if rows.numel() == 0:
                continue
            cj = (coef * hit).sum(1)[rows].unsqueeze(1)
            y = y.index_add(0, rows, self._expert(w["experts"][j + 1], n[rows]) * cj)
        return y

    def _expert(self, ew: tuple[Tensor, Tensor], n: Tensor) -> Tensor:
        # n: (R, H) -> (R, H); SwiGLU with [w_gate | w_up] as one GEMM
        gu = n @ ew[0]
        g, u = gu.chunk(2, dim=1)
        return (F.silu(g) * u) @ ew[1]

    # ---- MODEL.md, "Model"
    def forward(self, inputs: Tensor, state: list | None = None, ws: list | None = None) -> Tensor:
        """`inputs [B, T]` int64 -> logits `[B, T, V]` (state is advanced in place if given;
        `ws` is `_weights()`, to reuse across generation steps)."""
        b, t = inputs.shape
        x = self.p("embedding.weight")[inputs.clamp(max=self.V - 1).t()]  # (T, B, E), time-major
        state = state if state is not None else self.zero_state(b)
        for l, w in enumerate(ws if ws is not None else self._weights()):
            a = torch.addmm(w["b_in"], rmsnorm(x, w["input_norm"]).reshape(t * b, -1), w["w_in"]).view(t, b, -1)
            skip = x @ w["proj_in"] if w["proj_in"] is not None else x
            half = l > 0 and self.L > 1
            st, outs = state[l], []
            for i in range(t):
                o, st = self._cell(w, a[i], skip[i], x[i] if half else None, st)
                outs.append(o)
            state[l] = st
            x = torch.stack(outs)  # (T, B, H)
        logits = rmsnorm(x, self.p("output_norm")) @ self.p("output_proj")
        return logits.transpose(0, 1)  # (B, T, V)

    def loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        logits = self(inputs)
        return F.cross_entropy(logits.reshape(-1, self.V), targets.reshape(-1))

    @torch.no_grad()
    def step(self, state: list, tokens: Tensor, ws: list | None = None) -> Tensor:
        """One token per sequence `[B]` -> logits `[B, V]`; advances `state`."""
        return self(tokens.unsqueeze(1), state, ws)[:, 0]

    @torch.no_grad()
    def generate(self, prompt: list[int], length: int) -> list[int]:
        """Greedy (temperature 0) generation at batch 1, one step per token."""
        state, ws = self.zero_state(1), self._weights()
        logits = None
        for tok in prompt:
            logits = self.step(state, torch.tensor([tok]), ws)
        out = []
        for _ in range(length):
            nxt = int(logits[0].argmax())
            out.append(nxt)
            logits = self.step(state, torch.tensor([nxt]), ws)
        return out


class TorchTrainer:
    """Forward + backward + global-norm clip 1.0 + AdamW (β 0.9/0.999, ε 1e-8),
    the same step as rnnpy.Trainer."""

    def __init__(self, model: TorchModel, learning_rate: float = 1e-3, weight_decay: float = 0.01) -> None:
        self.model = model
        self.opt = torch.optim.AdamW(
            model.parameters(), lr=learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay
        )

    def step(self, inputs: Tensor, targets: Tensor) -> tuple[float, float]:
        self.opt.zero_grad(set_to_none=True)
        loss = self.model.loss(inputs, targets)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        return float(loss), float(norm)
