"""Seconds to render each dashboard page for a fabricated 50,000-sample run.

Builds a schema-valid run directory (manifest, samples.parquet, 28x28 thumbnails, a
(n, 650) float32 gradient matrix, a few retraining rows, a few hundred reviews) with the
core.run.rundir writers, then drives every page through streamlit's AppTest and prints, per
page, the first render in this process (cache cold: reads, PCA, neighbours) and the
median of the next renders (cache warm: what a person clicking around sees).

    python benchmarks/dashboard_render.py [--n 50000] [--repeats 3] [--keep DIR]
    python benchmarks/dashboard_render.py --run runs/outputs1m   # an analyzed run instead
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import DataConfig, EmbedConfig, RunConfig  # noqa: E402
from core.run import schema  # noqa: E402
from core.run.io import now_iso, write_json, write_npy, write_parquet
from core.run.reviews import KEEP, MISLABELED, RELABEL, ReviewStore  # noqa: E402
from core.run.rundir import RunDir  # noqa: E402
from core.versions import package_versions

PAGES = ("overview", "gradient_space", "outlier_vs_influence", "flagged_review", "budget_retrain", "sample_detail")
N_CLASSES = 10
WIDTH = 650


def fabricate(run_path: Path, n: int, seed: int = 0) -> Path:
    """A run directory a 50,000-sample MNIST-like analysis would leave (values synthetic)."""
    rng = np.random.default_rng(seed)
    run = RunDir(run_path)
    config = RunConfig(data=DataConfig(dataset="mnist-like"), embed=EmbedConfig(method="umap"), seed=seed)
    true = rng.integers(0, N_CLASSES, n)
    noisy = rng.random(n) < 0.1
    given = np.where(noisy, (true + rng.integers(1, N_CLASSES, n)) % N_CLASSES, true)
    centers = rng.normal(0, 6, (N_CLASSES, 2))
    umap = centers[given] + rng.normal(0, 1, (n, 2)) + noisy[:, None] * rng.normal(0, 3, (n, 2))
    base = rng.gamma(2.0, 1.0, n) + 3 * noisy
    probs = rng.dirichlet(np.ones(N_CLASSES), n).astype(np.float32)
    frame = pd.DataFrame({
        schema.SAMPLE_ID: np.arange(n, dtype=np.int64),
        schema.SOURCE: [f"row {i}" for i in range(n)],
        schema.SPLIT: "train",
        schema.GIVEN_LABEL: given.astype(np.int64),
        schema.TRUE_LABEL: pd.array(true, dtype="Int64"),
        schema.IS_NOISY: pd.array(noisy, dtype="boolean"),
        schema.PRED_LABEL: np.where(rng.random(n) < 0.9, true, given).astype(np.int64),
        schema.CONFIDENCE: probs.max(1),
        schema.GIVEN_PROB: probs[np.arange(n), given],
        schema.LOSS: -np.log(probs[np.arange(n), given]),
        schema.FOLD: np.full(n, -1, np.int64),
        schema.GRAD_L1: base * 10,
        schema.GRAD_L2: base,
        schema.score_column("iforest"): base + rng.normal(0, 0.5, n),
        schema.score_column("l1"): base * 10 + rng.normal(0, 2, n),
        schema.score_column("l2"): base,
        schema.score_column("self_lissa"): base ** 2 + rng.normal(0, 2, n),
        schema.score_column("confidence_weighted_entropy"): 1 - probs[np.arange(n), given],
    })
    frame[schema.IS_FLAGGED] = np.zeros(n, bool)
    frame.loc[np.argsort(-frame[schema.score_column("iforest")].to_numpy())[: int(0.05 * n)], schema.IS_FLAGGED] = True
    frame[schema.UMAP_X], frame[schema.UMAP_Y] = umap[:, 0].astype(np.float32), umap[:, 1].astype(np.float32)
    frame[schema.FEATURE_X] = rng.normal(0, 1, n).astype(np.float32)
    frame[schema.FEATURE_Y] = rng.normal(0, 1, n).astype(np.float32)
    frame[schema.THUMBNAIL_ROW] = pd.array(np.arange(n), dtype="Int64")
    order = np.argsort(-probs, axis=1)
    frame[schema.SUGGESTED_LABEL], frame[schema.RUNNER_UP_LABEL] = order[:, 0], order[:, 1]
    frame[schema.SUGGESTED_LABEL_CONFIDENCE] = probs[np.arange(n), order[:, 0]]
    frame[schema.RUNNER_UP_CONFIDENCE] = probs[np.arange(n), order[:, 1]]
    frame[schema.NOISE_PROBABILITY] = noisy * 0.9

    run_path.mkdir(parents=True, exist_ok=True)
    write_parquet(run.file(schema.SAMPLES), frame)
    thumbs = (rng.random((n, 28, 28, 1)) ** 3 * 255).astype(np.uint8)
    write_npy(run.file(schema.THUMBNAILS), thumbs)
    gradients = rng.normal(0, 1, (n, WIDTH)).astype(np.float32) * base[:, None].astype(np.float32)
    write_npy(run.file(schema.GRADIENTS), gradients)
    retrain_rows = [
        {"request_key": f"k{i}", "detector": "iforest", "budget": budget, "seed": seed, "mode": "probe",
         "reviews_key": "", "n_train": n - int(budget * n), "n_removed": int(budget * n), "n_relabelled": 0,
         "n_removed_noisy": int(budget * n * 0.8), "test_accuracy": 0.95 + budget / 10,
         "baseline_accuracy": 0.95, "delta": budget / 10, "seconds": 1.0,
         "created": now_iso()}
        for i, budget in enumerate((0.0, 0.025, 0.05, 0.075, 0.1))]
    write_parquet(run.file(schema.RETRAIN), pd.DataFrame(retrain_rows)[list(schema.RETRAIN_COLUMNS)])
    write_json(run.file(schema.MANIFEST), {
        "schema_version": schema.SCHEMA_VERSION, "created": now_iso(), "config": config.to_dict(),
        "config_fingerprint": config.fingerprint(), "packages": package_versions(),
        "stages": {"evaluate": {"complete": True, "seconds": 1.0, "test_accuracy_after": 0.955}},
        "dataset": {"name": "mnist-like", "kind": "image", "fingerprint": "synthetic", "n_train": n, "n_test": 10000,
                    "input_shape": [1, 28, 28], "class_names": [str(c) for c in range(N_CLASSES)],
                    "n_noisy": int(noisy.sum()), "noise_rate": float(noisy.mean()),
                    "notes": ["fabricated by benchmarks/dashboard_render.py"]},
        "model": {"name": "cnn", "feature_dim": 64, "epochs_run": 10, "best_epoch": 8, "test_accuracy": 0.95},
        "gradients": {"mode": "in_sample", "layers": "last", "width": WIDTH, "stored_width": WIDTH,
                      "projection": None, "layout": "kron(p - e_y, [h, 1])"},
        "embedding": {"method": "umap", "input": "gradients"},
        "suggested_budget": {"value": float(noisy.mean()), "low": 0.09, "high": 0.11, "method": "counterfactual",
                             "level": 0.95, "resamples": 200, "rows": n, "budget": float(noisy.mean()),
                             "estimated_precision": 0.9, "estimated_recall": 0.9, "applied": False},
        "noise_estimates": {"counterfactual": float(noisy.mean())},
        "baselines": {"influence": ["self_lissa"], "label_quality": ["confidence_weighted_entropy"],
                      "validation": "test split (influence)", "notes": []},
    })
    store = ReviewStore(run_path, n_samples=n, n_classes=N_CLASSES)
    flagged = np.flatnonzero(frame[schema.IS_FLAGGED].to_numpy())
    store.record(flagged[:200], MISLABELED, "benchmark")
    store.record(flagged[200:300], KEEP, "benchmark")
    store.record(flagged[300:350], RELABEL, "benchmark", new_label=3)
    return run_path


def time_pages(runs_dir: Path, run_path: Path, repeats: int) -> list[dict]:
    os.environ["GRADSIFT_RUNS_DIR"] = str(runs_dir)
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=300)
    app.session_state["run_path"] = str(run_path)
    app.session_state["reviewer"] = "benchmark"
    app.session_state["detail_sample"] = 123
    started = time.perf_counter()
    app.run()
    startup = time.perf_counter() - started
    rows = []
    for page in PAGES:
        app.switch_page(f"pages/{page}.py")
        timings = []
        for _ in range(repeats + 1):
            started = time.perf_counter()
            app.run()
            timings.append(time.perf_counter() - started)
            if len(app.exception) or len(app.error):
                raise SystemExit(f"{page} failed: {[e.value for e in app.exception] + [e.value for e in app.error]}")
        rows.append({"page": page, "first_s": timings[0], "warm_s": statistics.median(timings[1:])})
    # The optional PCA map computes a PCA of the whole gradient matrix once per run.
    app.switch_page("pages/gradient_space.py")
    app.session_state["map_kind"] = "pca"
    timings = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        app.run()
        timings.append(time.perf_counter() - started)
    rows.append({"page": "gradient_space (PCA map)", "first_s": timings[0], "warm_s": statistics.median(timings[1:])})
    rows.insert(0, {"page": "app start (imports + overview)", "first_s": startup, "warm_s": float("nan")})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000, help="training samples in the fabricated run")
    parser.add_argument("--repeats", type=int, default=3, help="warm renders per page (median reported)")
    parser.add_argument("--keep", type=Path, default=None, help="build the run here and keep it")
    parser.add_argument("--run", type=Path, default=None, help="time an analyzed run directory instead")
    args = parser.parse_args()
    if args.run is not None:
        run_path = args.run.resolve()
        rows = time_pages(run_path.parent, run_path, args.repeats)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            runs_dir = args.keep or Path(scratch)
            started = time.perf_counter()
            run_path = fabricate(runs_dir / f"bench{args.n}", args.n)
            print(f"fabricated {args.n:,}-sample run in {time.perf_counter() - started:.1f} s at {run_path}")
            rows = time_pages(runs_dir, run_path, args.repeats)
    print(f"\n{'page':34} {'first render (s)':>17} {'warm render (s)':>16}")
    for row in rows:
        warm = "" if row["warm_s"] != row["warm_s"] else f"{row['warm_s']:.2f}"
        print(f"{row['page']:34} {row['first_s']:17.2f} {warm:>16}")


if __name__ == "__main__":
    main()
