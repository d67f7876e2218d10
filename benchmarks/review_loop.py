"""The review-loop simulation on run directories you already have, as markdown tables (docs/review-loop.md).

`gradsift bench --only review_loop` analyzes its own runs (digits and mnist5k at 20% pair-flip noise, and at
10% and 20% symmetric noise, 9 seeds each) and reports the records; this script runs the same measurement
(core.bench.review_loop.measure_runs) on existing run directories, so the tables in the docs can be regenerated
without re-analyzing:

    for ds in digits mnist5k; do for seed in 0 1 2 3 4 5 6 7 8; do
      for rate in 0.1 0.2; do
        gradsift analyze --dataset $ds --noise-rate $rate --seed $seed --no-retrain --embed pca \
                         --out runs/loop/$ds-$rate-$seed; done
      gradsift analyze --dataset $ds --noise pairflip --noise-rate 0.2 --seed $seed --no-retrain --embed pca \
                       --out runs/loop/$ds-pairflip-0.2-$seed; done; done
    python benchmarks/review_loop.py runs/loop/* [--points points.csv]

Prints: the precision of the next batch per (dataset, noise, checkpoint, method) with the paired gain over
the static ranking (mean and 95% t-interval over seeds), the pooled gains, the estimate of the errors left
against the truth, the loop as a person runs it, and the conflicting near-duplicates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.bench.common import FULL, Log  # noqa: E402
from core.bench.review_loop import (  # noqa: E402
    SHALLOW,
    estimate_errors,
    gain_table,
    measure_runs,
    records,
    run_gains,
)
from core.evaluate.intervals import t_interval  # noqa: E402


def _markdown(frame) -> str:
    """A frame (index reset into columns) as a markdown table, without the tabulate package."""
    frame = frame.reset_index()
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _ci(mean: float, low: float, high: float, digits: int = 3) -> str:
    return f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories with true labels")
    parser.add_argument("--checkpoints", default=",".join(map(str, FULL.review_checkpoints)))
    parser.add_argument("--batch", type=int, default=FULL.review_batch)
    parser.add_argument("--batches", type=int, default=FULL.review_batches)
    parser.add_argument("--methods", default="neighbors,refit,refit_l2,stack,blend")
    parser.add_argument("--points", type=Path, help="also write every simulated (run, checkpoint, method) point "
                                                     "to this CSV (never over an existing file)")
    args = parser.parse_args(argv)
    if args.points is not None and args.points.exists():
        parser.error(f"--points {args.points}: the file exists (never overwritten); name a new one")
    import torch

    torch.set_num_threads(1)
    log = Log(echo=True)
    points, loops, conflicts = measure_runs(args.runs, [int(c) for c in args.checkpoints.split(",")], args.batch,
                                            args.methods.split(","), args.batches, log)
    if args.points is not None:
        with open(args.points, "x") as handle:
            points.to_csv(handle, index=False)
    table = gain_table(points)
    print("\n### Precision of the next batch (mean over seeds) and gain over the static ranking [95% CI]\n")
    print("| dataset | noise | reviewed | wrong left | static | " + " | ".join(
        f"{m} (gain)" for m in table["method"].unique() if m != "static") + " |")
    methods = [m for m in table["method"].unique() if m != "static"]
    print("|" + "---|" * (5 + len(methods)))
    for (dataset, model, noise, checkpoint), part in table.groupby(["dataset", "noise_model", "noise", "checkpoint"]):
        part = part.set_index("method")
        cells = [f"{part.loc[m, 'precision']:.3f} ({_ci(part.loc[m, 'gain'], part.loc[m, 'low'], part.loc[m, 'high'])})"
                 for m in methods]
        first = part.iloc[0]
        print(f"| {dataset} | {model} {noise:.0%} | {checkpoint} | {first['remaining']:.0f} | {first['static']:.3f} | "
              + " | ".join(cells) + " |")
    print("\n### Gain pooled over every (dataset, noise, seed, checkpoint) point\n")
    print("The points of one run share its model, so the last column takes each run's mean gain over its checkpoints "
          "and the t-interval over runs.\n")
    print("| method | checkpoints | points | mean gain [95% CI over points] | runs | mean gain [95% CI over runs] |\n"
          "|---|---|---|---|---|---|")
    for label, chosen in (
        (f"≤ {SHALLOW}", points["checkpoint"] <= SHALLOW),
        (f"> {SHALLOW}", points["checkpoint"] > SHALLOW),
    ):
        for method, part in points[chosen].groupby("method", sort=False):
            per_run = run_gains(part)
            print(
                f"| {method} | {label} | {len(part)} | {_ci(*t_interval(part['gain']))} | {len(per_run)} | "
                f"{_ci(*t_interval(per_run))} |"
            )
    errors = estimate_errors(points)
    print("\n### Estimate of the wrong labels left (points with ≥ 20 left)\n")
    print("| dataset | noise | reviewed | true | estimate | range | disagreement | mixture |\n"
          "|---|---|---|---|---|---|---|---|")
    for row in errors.sort_values(["dataset", "noise_model", "noise", "checkpoint", "seed"]).itertuples():
        print(f"| {row.dataset} | {row.noise_model} {row.noise:.0%} | {row.checkpoint} | {row.remaining} | "
              f"{row.estimate:.0f} | {row.low:.0f}–{row.high:.0f} | {row.disagreement:.0f} | {row.mixture:.0f} |")
    print(
        f"\nmean |relative error| of the midpoint {errors['relative_error'].abs().mean():.3f}, of the disagreement "
        f"count {((errors['disagreement'] - errors['remaining']) / errors['remaining']).abs().mean():.3f}, of the "
        f"mixture {((errors['mixture'] - errors['remaining']) / errors['remaining']).abs().mean():.3f}; "
        f"range holds the truth in {errors['covered'].mean():.0%} of {len(errors)} points"
    )
    print("\n### The loop as a person runs it: wrong labels found\n")
    found = loops.pivot_table(index=["dataset", "noise_model", "noise", "reviewed"], columns="method", values="found",
                              aggfunc="mean")
    print(_markdown(found.round(1)))
    print("\n### Conflicting near-duplicates\n")
    summary = conflicts.groupby(["dataset", "noise_model", "noise"])[
        ["n_pairs", "with_noisy", "random_pairs", "noisy_covered", "suspect_is_noisy"]].mean()
    print(_markdown(summary.round(3)))
    print()
    for record in records(points, loops, conflicts, FULL.review_learn_checkpoints, FULL.review_learn_noise):
        target = f" (target {record.target}: {'met' if record.met else 'NOT met'})" if record.target else ""
        print(f"{record.name}: {record.value:.4g} {record.unit}{target}" + (f" — {record.note}" if record.note else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
