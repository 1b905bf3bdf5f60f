"""The README's reinforcement-learning pipeline, run as a user runs it (the
CLI, in a scratch directory) for several seeds: held-out exact match after
supervised training, after as much supervised training again (the control),
and after GRPO; and GRPO's episodes per second.

    python benchmarks/rl_pipeline.py                       # seeds 1,2,3: the README's numbers (~3 min)
    python benchmarks/rl_pipeline.py --seeds 1 --show      # one seed, printing every command's output
    RAYON_NUM_THREADS=1 taskset -c 0 python benchmarks/rl_pipeline.py   # as measured

`rl --rlEpisodes=0` is an evaluation: it prints the same two evaluations
(before = after) and changes nothing.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TASK = "copy-long"
MODEL = "--hiddenSize=64 --embedSize=16 --fastMode=true --seqLength=32 --batchSize=16 --learningRate=0.003"
RL = "--rlLearningRate=0.001 --rlPrompts=32 --rlInnerSteps=2 --rlEvalPrompts=500"


def commands(seed: int) -> dict[str, str]:
    """The README's commands (its step 1 writes copy.txt through a shell redirect)."""
    return {
        "tasks": f"tasks --task={TASK} --n=50000 --seed={seed}",
        "train": f"train --trainingFile=copy.txt {MODEL} --epochs=3 --seed={seed} --savePath=copy.bin --genLength=0",
        "rl": f"rl --loadCheckpoint=copy.bin --savePath=copy_rl.bin --rlTask={TASK} --rlEpisodes=600 {RL} "
        f"--rlLogEvery=100 --seed={seed}",
        "more": f"train --loadCheckpoint=copy.bin --trainingFile=copy.txt {MODEL} --epochs=6 --savePath=copy_more.bin "
        "--genLength=0",
        "eval": f"rl --loadCheckpoint=copy_more.bin --savePath=scratch.bin --rlTask={TASK} --rlEpisodes=0 {RL}",
    }


def cli(cwd: Path, line: str, show: bool) -> str:
    p = subprocess.run([sys.executable, "-m", "rnnpy", *line.split()], cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"`python -m rnnpy {line}` failed:\n{p.stderr}")
    if show:
        print(f"$ python -m rnnpy {line}\n{p.stdout}")
    return p.stdout


def exact(out: str, when: str) -> tuple[float, float]:
    """(held-out, beyond training) exact match of the `when` ("Before"/"After") evaluation."""
    m = re.search(rf"^{when} RL: exact +([\d.]+)%.*\n  beyond training [^:]*: exact +([\d.]+)%", out, re.M)
    assert m, out
    return float(m.group(1)), float(m.group(2))


def one(seed: int, show: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        d, c = Path(tmp), commands(seed)
        (d / "copy.txt").write_text(cli(d, c["tasks"], False))
        cli(d, c["train"], show)
        rl = cli(d, c["rl"], show)
        cli(d, c["more"], show)
        more = cli(d, c["eval"], show)
    eps = re.search(r"^RL done in ([\d.]+)s \(([\d.]+) episodes/s\)", rl, re.M)
    assert eps, rl
    (sft, sft_gen), (grpo, grpo_gen), (more_sft, _) = exact(rl, "Before"), exact(rl, "After"), exact(more, "After")
    return {"sft": sft, "more_sft": more_sft, "grpo": grpo, "sft_general": sft_gen, "grpo_general": grpo_gen,
            "episodes_per_s": float(eps.group(2))}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--show", action="store_true", help="print each command and its output")
    args = ap.parse_args()
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        r = one(seed, args.show)
        rows.append(r)
        print(f"seed {seed}: " + " | ".join(f"{k} {v:.1f}" for k, v in r.items()), flush=True)

    def ms(key: str) -> str:
        xs = [r[key] for r in rows]
        return f"{statistics.mean(xs):.1f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:.1f}"

    print(f"\nheld-out exact, mean ± sd over seeds {args.seeds}:")
    print(f"SFT (3 epochs) {ms('sft')}% | SFT (6 epochs) {ms('more_sft')}% | SFT + GRPO {ms('grpo')}%")
    print(f"beyond training: {ms('sft_general')}% -> {ms('grpo_general')}% | {ms('episodes_per_s')} episodes/s")


if __name__ == "__main__":
    main()
