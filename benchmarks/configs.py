"""The benchmark configurations (issue 6), their FLOP counts, the old program's
reference throughputs, and the targets the report checks (issue 10)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class BenchConfig:
    name: str
    embed_size: int
    hidden_size: int
    num_layers: int
    num_experts: int
    top_k: int
    fast_mode: bool
    batch: int
    seq: int
    vocab_size: int = 65  # tiny Shakespeare's characters
    num_heads: int = 4
    use_rwkv: bool = True

    def model_kwargs(self) -> dict:
        d = asdict(self)
        for key in ("name", "batch", "seq"):
            d.pop(key)
        return d

    @property
    def k(self) -> int:
        """Routed experts per row: MODEL.md's `min(topK, NE − 1)`, none in fast mode."""
        return 0 if self.fast_mode else min(self.top_k, self.num_experts - 1)

    def label(self) -> str:
        moe = "fast" if self.fast_mode else f"{self.num_experts}/{self.top_k}"
        return f"E{self.embed_size} H{self.hidden_size} L{self.num_layers} {moe} {self.batch}×{self.seq}"


# Issue 6's table.
FULL = {
    "A": BenchConfig("A", 16, 32, 1, 4, 1, False, 4, 25),
    "B": BenchConfig("B", 64, 128, 2, 4, 1, False, 16, 64),
    "C": BenchConfig("C", 128, 256, 2, 4, 2, False, 32, 128),
    "D": BenchConfig("D", 128, 256, 2, 4, 2, True, 32, 128),
}

# --smoke: A as is (it is tiny), B–D shrunk to A's widths with their structure kept.
SMOKE = {
    "A": FULL["A"],
    "B": BenchConfig("B", 16, 32, 2, 4, 1, False, 4, 16),
    "C": BenchConfig("C", 16, 32, 2, 4, 2, False, 4, 16),
    "D": BenchConfig("D", 16, 32, 2, 4, 2, True, 4, 16),
}

# The old program (rnn-rust), training tokens/s on this machine class (issue 6).
OLD_TOKENS_PER_S = {"A": 8_500.0, "B": 400.0}

# Targets (issue 10): training × the PyTorch peer, × the old program (1 thread);
# generation × the peer at batch 1 (C) and batch 32; C and D of the sgemm peak.
TARGET_VS_TORCH = {"A": 10.0, "B": 2.0, "C": 2.0, "D": 2.0}
TARGET_VS_OLD = {"A": 20.0, "B": 15.0}
TARGET_GEN_VS_TORCH = {("C", 1): 5.0, ("C", 32): 2.0}
TARGET_PEAK_FRACTION = 0.5  # C and D, of the measured sgemm peak


def forward_flops_per_token(c: BenchConfig) -> int:
    """Matrix-multiply FLOPs (2 per multiply-add) of one token's forward pass.

    Per layer with input width I (E for layer 0, else H):
      input side   wz, wr, wh: 3 · 2·I·H, plus proj_in 2·I·H when I ≠ H
      recurrence   uz, ur, uh: 3 · 2·H·H
      RWKV         wk, wv, wo, time_decay_proj, time_first_proj: 5 · 2·H·H
      MoE          each expert 2·(H·2H + H·2H + 2H·H) = 12·H², run by expert 0 and
                   by k routed experts per row; router 2·H·(NE − 1)
    Head: output_proj 2·H·V. Elementwise work (norms, gates, WKV, softmax) is
    not counted: it is O(H) per token against O(H²).
    """
    h, total = c.hidden_size, 0
    for layer in range(c.num_layers):
        i = c.embed_size if layer == 0 else h
        total += 3 * 2 * i * h + (2 * i * h if i != h else 0)
        total += 3 * 2 * h * h
        if c.use_rwkv:
            total += 5 * 2 * h * h
        if not c.fast_mode:
            total += 12 * h * h * (1 + c.k)
            if c.num_experts > 1 and c.k > 0:
                total += 2 * h * (c.num_experts - 1)
    return total + 2 * h * c.vocab_size


def train_flops_per_token(c: BenchConfig) -> int:
    """Forward + backward: the backward of every GEMM is two GEMMs of the same
    size (input gradient and weight gradient), so 3 × the forward count."""
    return 3 * forward_flops_per_token(c)
