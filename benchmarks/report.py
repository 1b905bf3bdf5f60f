"""Turns the results dict of run.py into tables: rich for the terminal, Markdown
for benchmarks/README.md. Ratio cells say whether the issue 10 target is met."""

from __future__ import annotations

from pathlib import Path

from configs import OLD_TOKENS_PER_S, TARGET_GEN_VS_TORCH, TARGET_PEAK_FRACTION, TARGET_VS_OLD, TARGET_VS_TORCH


def replace_marked(path: Path, start: str, end: str, md: str) -> None:
    """Rewrites what lies between the markers `start` and `end` in `path` with `md`."""
    text = path.read_text()
    a, b = text.index(start) + len(start), text.index(end)
    path.write_text(text[:a] + "\n" + md + text[b:])


def _num(x: float | None, digits: int = 0) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def _ratio(num: float | None, den: float | None, target: float | None) -> tuple[str, bool | None]:
    if num is None or den is None or den == 0:
        return "–", None
    r = num / den
    if target is None:
        return f"{r:.2f}×", None
    return f"{r:.2f}× (≥{target:g})", r >= target


def _percent(num: float | None, den: float | None, target: float | None) -> tuple[str, bool | None]:
    if num is None or not den:
        return "–", None
    text = f"{100 * num / den:.1f}%"
    return (text, None) if target is None else (f"{text} (≥{100 * target:.0f}%)", num / den >= target)


def _mb(kb: int | None) -> str:
    return "–" if kb is None else f"{kb / 1024:,.0f}"


def _get(d: dict, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def training_rows(res: dict) -> list[list[tuple[str, bool | None]]]:
    rows = []
    for name, c in res["configs"].items():
        for th in res["threads"]:
            r = _get(c, "train", "rnnpy", str(th)) or {}
            t = _get(c, "train", "torch", str(th)) or {}
            rt, tt = r.get("tokens_per_s"), t.get("tokens_per_s")
            gflops = rt * c["train_flops_per_token"] / 1e9 if rt else None
            peak = _get(res, "sgemm", str(th), "gflops")
            old_target = TARGET_VS_OLD.get(name) if th == 1 else None
            rows.append(
                [
                    (name, None),
                    (str(th), None),
                    (_num(rt), None),
                    (f"{_num(tt)} ({t['moe']})" if tt else "–", None),
                    _ratio(rt, tt, TARGET_VS_TORCH.get(name)),
                    _ratio(rt, OLD_TOKENS_PER_S.get(name), old_target),
                    (_num(gflops, 1), None),
                    _percent(gflops, peak, TARGET_PEAK_FRACTION if name in "CD" else None),
                    (f"{_mb(r.get('peak_rss_kb'))} / {_mb(t.get('peak_rss_kb'))}", None),
                ]
            )
    return rows


TRAIN_HEADER = ["cfg", "thr", "rnnpy tok/s", "peer tok/s (MoE)", "× peer", "× old", "GFLOP/s", "of peak", "RSS MB r/t"]


def generation_rows(res: dict) -> list[list[tuple[str, bool | None]]]:
    rows = []
    for name, c in res["configs"].items():
        for key, g in (c.get("generate") or {}).items():
            b = int(key)
            for th in res["threads"]:
                r, t = g.get("rnnpy", {}).get(str(th), {}), g.get("torch", {}).get(str(th), {})
                rt, tt = r.get("tokens_per_s"), t.get("tokens_per_s")
                rows.append(
                    [
                        (name, None),
                        (str(b), None),
                        (str(th), None),
                        (_num(rt), None),
                        (f"{_num(tt)} ({t['moe']})" if tt else "–", None),
                        _ratio(rt, tt, TARGET_GEN_VS_TORCH.get((name, b))),
                        (_num(r.get("flatness"), 2), None),
                    ]
                )
    return rows


GEN_HEADER = ["cfg", "batch", "thr", "rnnpy tok/s", "peer tok/s (MoE)", "× peer", "4n/n rate"]


def summary_lines(res: dict) -> list[tuple[str, bool | None]]:
    out = []
    for th in res["threads"]:
        s = _get(res, "sgemm", str(th)) or {}
        parts = [f"{k.split('_')[0]} {v:.1f}" for k, v in s.items() if k not in ("gflops", "rounds")]
        out.append((f"sgemm peak, {th} thread(s): {s.get('gflops', 0):.1f} GFLOP/s ({', '.join(parts)})", None))
    if "C" in res["configs"] and {1, 2} <= set(res["threads"]):
        one = _get(res["configs"]["C"], "train", "rnnpy", "1", "tokens_per_s")
        two = _get(res["configs"]["C"], "train", "rnnpy", "2", "tokens_per_s")
        text, ok = _ratio(two, one, None)
        out.append((f"C, rnnpy 2 threads / 1 thread: {text}", ok))
    for name, c in res["configs"].items():
        runs = _get(c, "train", "rnnpy") or {}
        losses = {th: r["warmup_losses"] for th, r in runs.items() if "warmup_losses" in r}
        if len(losses) > 1:
            same = len({tuple(v) for v in losses.values()}) == 1
            out.append((f"{name}: warm-up losses identical across threads {sorted(losses)}: {same}", same))
    m = res.get("memory")
    if m and "slope_kb_per_1000_steps" in m:
        flat = m["growth_kb"] <= max(2048, 0.02 * m["peak_rss_kb"])
        text = (
            f"memory ({m['config']}, {m['steps']} steps): RSS slope {m['slope_kb_per_1000_steps']:+.0f} KiB/1000 steps,"
            f" growth after warm-up {m['growth_kb']:+d} KiB, peak {_mb(m['peak_rss_kb'])} MB"
        )
        out.append((text, flat))
    chk = res.get("check")
    if chk and "ok" in chk:
        text = (
            f"PyTorch peer = rnnpy (A–D shapes, dense and sparse MoE): max |Δlogits| {chk['logits']:.1e}, |Δloss| {chk['loss']:.1e},"
            f" max rel Δgrad {chk['grad_rel']:.1e}, greedy tokens equal: {chk['greedy_equal']}"
        )
        out.append((text, chk["ok"]))
    for err in res.get("errors", []):
        out.append((f"error: {err}", False))
    return out


def _mark(text: str, ok: bool | None, markdown: bool) -> str:
    if ok is None:
        return text
    if markdown:
        return f"{text} {'✅' if ok else '❌'}"
    return f"[green]{text} ✓[/green]" if ok else f"[red]{text} ✗[/red]"


def print_rich(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for title, header, rows in (
        ("Training (forward + backward + clip + AdamW), median tokens/s", TRAIN_HEADER, training_rows(res)),
        ("Generation, greedy, tokens/s", GEN_HEADER, generation_rows(res)),
    ):
        table = Table(title=title)
        for h in header:
            table.add_column(h, justify="left" if h == "cfg" else "right")
        for row in rows:
            table.add_row(*(_mark(t, ok, False) for t, ok in row))
        console.print(table)
    for text, ok in summary_lines(res):
        console.print(_mark(text, ok, False))


def markdown(res: dict) -> str:
    def table(header: list[str], rows: list) -> list[str]:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return lines + ["| " + " | ".join(_mark(t, ok, True) for t, ok in row) + " |" for row in rows]

    m = res["machine"]
    about = (
        f"Machine: {m['cpu']}, {m['nproc']} CPUs; Python {m['python']}, rnnpy {m['rnnpy']},"
        f" torch {m.get('torch') or 'absent'}, numpy {m['numpy']}; engine build {m.get('core_sha256', '?')}."
    )
    run = (
        f"Run {res['date']}: `{res['command']}`; load average {m.get('load_average_start', 0):.1f} at the start,"
        f" {m.get('load_average_end', 0):.1f} at the end (other work on the machine shows here)."
    )
    lines = [
        about,
        run,
        "",
        "Training (forward + backward + clip + AdamW), median tokens/s:",
        "",
        *table(TRAIN_HEADER, training_rows(res)),
        "",
        "Generation (greedy), tokens/s:",
        "",
        *table(GEN_HEADER, generation_rows(res)),
        "",
        *(f"- {_mark(t, ok, True)}" for t, ok in summary_lines(res)),
    ]
    return "\n".join(lines) + "\n"
