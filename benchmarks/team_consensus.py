"""A simulated review team (core.review.team_simulation) on analyzed runs with known truth, as markdown tables
(docs/team-consensus.md, section "Consensus measured").

    python benchmarks/team_consensus.py --analyze runs/team        # digits and mnist5k at 10% noise, seeds 0-2
    python benchmarks/team_consensus.py runs/team/*                # or on run directories you already have

Each run is analyzed with `RunConfig(data=DataConfig(dataset, noise_rate=0.1), baselines off, embed pca)` and
no retraining. Prints, per dataset: the accuracy on the flagged samples of each annotator (95%, 85%, 70%), majority
vote and CROWDLAB's consensus at overlap 3 (mean and 95% t-interval over seeds), the paired differences of the
consensus against the best annotator and against majority vote, whether CROWDLAB's annotator quality ranked the three
in their true order in every seed, and the model alone (the argmax of oof_probs.npy, which CROWDLAB weighs in); then
decisions per corrected label, overlap 1 against overlap 2 with a 5% gold set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from core.evaluate.intervals import t_interval  # noqa: E402
from core.review.team_simulation import (  # noqa: E402
    ACCURACIES,
    consensus_accuracy,
    decisions_per_correction,
    names,
)
from core.run.rundir import RunDir  # noqa: E402

DATASETS, NOISE, SEEDS = ("digits", "mnist5k"), 0.1, 3


def analyze_runs(workdir: Path) -> list[Path]:
    from core.config import BaselineConfig, DataConfig, EmbedConfig, RunConfig
    from core.pipeline.runner import Reporter, analyze

    paths = []
    for dataset in DATASETS:
        for seed in range(SEEDS):
            path = workdir / f"{dataset}-{NOISE:g}-{seed}"
            if not (path / "samples.parquet").exists():
                config = RunConfig(data=DataConfig(dataset=dataset, noise_rate=NOISE), seed=seed,
                                   baselines=BaselineConfig(enabled=False), embed=EmbedConfig(method="pca"))
                analyze(config, path, reporter=Reporter(), retrain_after=False)
            paths.append(path)
    return paths


def _ci(values, digits: int = 3, signed: bool = False, bounds: tuple[float, float] | None = None) -> str:
    mean, low, high = t_interval(values, bounds=bounds)
    sign = "+" if signed else ""
    return f"{mean:{sign}.{digits}f} [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path, help="run directories with true labels")
    parser.add_argument("--analyze", type=Path, help="analyze digits and mnist5k (10%% noise, seeds 0-2) here first")
    parser.add_argument("--json", type=Path, help="also write every record to this JSON file")
    args = parser.parse_args(argv)
    runs = list(args.runs) + (analyze_runs(args.analyze) if args.analyze else [])
    if not runs:
        parser.error("name run directories or --analyze DIR")
    team = names(ACCURACIES)
    records = []
    for path in runs:
        run = RunDir(path)
        config = run.config()
        seed = int(config.seed)
        record = {"run": str(path), "dataset": config.data.dataset, "seed": seed,
                  **consensus_accuracy(path, seed), "cost": decisions_per_correction(path, seed)}
        records.append(record)
        print(f"{path}: crowdlab {record['crowdlab']:.3f}, majority {record['majority_vote']:.3f}, "
              + ", ".join(f"{n} {record[n]:.3f}" for n in team), file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    print("\n### Accuracy on the flagged samples at overlap 3 (mean [95% t-interval] over seeds)\n")
    print("| dataset | seeds | flagged | " + " | ".join(team) + " | majority vote | consensus (CROWDLAB) | "
          "consensus − best annotator | consensus − majority | quality order right | model alone | "
          "agreed, else lead (adjudications) |")
    print("|" + "---|" * (len(team) + 10))
    for dataset in sorted({r["dataset"] for r in records}):
        part = [r for r in records if r["dataset"] == dataset]
        best = [max(r[n] for n in team) for r in part]
        cells = [_ci([r[n] for r in part], bounds=(0, 1)) for n in team]
        print(f"| {dataset} | {len(part)} | {np.mean([r['n_flagged'] for r in part]):.0f} | " + " | ".join(cells)
              + f" | {_ci([r['majority_vote'] for r in part], bounds=(0, 1))} | "
              f"{_ci([r['crowdlab'] for r in part], bounds=(0, 1))} | "
              f"{_ci([r['crowdlab'] - b for r, b in zip(part, best)], signed=True)} | "
              f"{_ci([r['crowdlab'] - r['majority_vote'] for r in part], signed=True)} | "
              f"{sum(r['quality_order_right'] for r in part)}/{len(part)} | "
              f"{_ci([r['model_alone'] for r in part], bounds=(0, 1))} | "
              f"{_ci([r['agreed_else_lead'] for r in part], bounds=(0, 1))} "
              f"({np.mean([r['lead_adjudications'] for r in part]):.0f}) |")
    print("\n### Decisions per corrected label (mean [95% t-interval] over seeds)\n")
    print("| dataset | setting | decisions | corrected | broken | decisions per corrected | per net corrected |")
    print("|---|---|---|---|---|---|---|")
    for dataset in sorted({r["dataset"] for r in records}):
        part = [r for r in records if r["dataset"] == dataset]
        for index, setting in enumerate(c["setting"] for c in part[0]["cost"]):
            rows = [r["cost"][index] for r in part]
            print(f"| {dataset} | {setting} | {np.mean([c['decisions'] for c in rows]):.0f} | "
                  f"{np.mean([c['corrected'] for c in rows]):.1f} | {np.mean([c['broken'] for c in rows]):.1f} | "
                  f"{_ci([c['decisions_per_correction'] for c in rows], 2)} | "
                  f"{_ci([c['decisions_per_net_correction'] for c in rows], 2)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
