"""How long a new budget or primary detector takes on a finished run, against the first analysis.

Runs `gradsift analyze --dataset digits` into a fresh directory (every default), then on the same directory
`--budget 0.1`, then `--primary l1`, each as a new process (start-up included), and checks that the model,
gradients, scores and map are byte-identical afterwards. Target (issue: flagging is a decision): each re-flag
≤ 40% of the first analysis's wall time.

    python benchmarks/reflag_time.py [--dataset digits] [--out runs/bench-reflag]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

KEPT = ("model.pt", "gradients.npy", "gradient_factors.npz", "scores.parquet", "embedding.parquet")


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "core.cli.main", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def digest(out: Path) -> dict[str, str]:
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in KEPT}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--out", default="runs/bench-reflag")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    base = ["analyze", "--dataset", args.dataset, "--out", str(out)]
    first = timed(base)
    before = digest(out)
    budget = timed([*base, "--budget", "0.1"])
    primary = timed([*base, "--budget", "0.1", "--primary", "l1"])
    same = digest(out) == before
    print(f"first analysis {first:.1f} s; --budget 0.1 {budget:.1f} s ({budget / first:.0%}); --primary l1 "
          f"{primary:.1f} s ({primary / first:.0%}); target ≤ 40%: "
          f"{'met' if max(budget, primary) <= 0.4 * first else 'MISSED'}; model, gradients, scores and map "
          f"{'byte-identical' if same else 'CHANGED'}")


if __name__ == "__main__":
    main()
