"""10. Text (`gradsift bench --only text`): a 400-row intent CSV with every default, and detection on `intents`.

- **CSV**: 400 generated customer requests (core.data.intents, seed 7) written as a text manifest
  (`text`, `label` with 10% symmetric flips, `true_label`), analyzed by `gradsift analyze --dataset
  intents400.csv` with every default in a fresh process and an empty embedding cache (the encoder
  loads and runs: a first run). Target: ≤ 60 s. With `text_variants` (not in --quick), a second
  analysis of the same file into a new directory (embeddings from the cache) is timed for
  information (as is the bag-of-words baseline below), and a third with torch, OpenMP and BLAS on one thread
  (`OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`, embedding cache empty
  again): on a shared machine whose load exceeds its cores, 2-thread regions stall.
- **Detection**: `gradsift analyze --dataset intents --seed s` (1,000 generated requests, 10%
  symmetric noise injected, the text probe on all-MiniLM-L6-v2 embeddings) for each seed: precision
  at 5% of the primary detector against the injected noise, beside cleanlab's normalized margin on
  the run's out-of-fold probabilities; mean over seeds (`text_seeds` = 0, in --quick: on the CSV
  run above instead, 400 requests). Target: the primary within 0.01 of the margin, or better. Next to it, for
  information: the probe's test accuracy and a bag-of-words
  baseline's (TF-IDF of word 1-2 grams + logistic regression, C by 5-fold CV) on the same split and
  the same noisy training labels: how separable the generated texts are without an encoder.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from core.bench.common import Log, Record, Sizes, info, target
from core.bench.end_to_end import _env, _wall, cli_command, thread_env, threads_note, wall_and_cpu
from core.bench.own_data import _scores

CSV_SEED = 7


def write_intent_csv(path: Path, n: int, seed: int = CSV_SEED, noise_rate: float = 0.10) -> int:
    """n generated requests as a text manifest with `noise_rate` of the labels flipped (symmetric, seeded) and
    the truth in `true_label`; returns how many labels were flipped."""
    from core.data.intents import generate_intents
    from core.data.noise import inject_noise

    texts, labels, names = generate_intents(n, seed)
    given = inject_noise(labels, len(names), "symmetric", noise_rate, np.random.default_rng([seed, 3]))
    pd.DataFrame({"text": texts, "label": [names[i] for i in given],
                  "true_label": [names[i] for i in labels]}).to_csv(path, index=False)
    return int((given != labels).sum())


def bag_of_words_accuracy(run_dir: Path) -> float:
    """Test accuracy of TF-IDF (word 1-2 grams) + logistic regression fit on the run's training texts and given
    labels, on the run's test texts (the same split and noisy labels the run's probe saw)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegressionCV

    from core.run import schema
    from core.run.rundir import RunDir

    run = RunDir(run_dir)
    samples = run.read_samples([schema.TEXT, schema.GIVEN_LABEL])
    test_texts = run.read_parquet(schema.TEST_TEXTS)[schema.TEXT].astype(str).tolist()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    train = vectorizer.fit_transform(samples[schema.TEXT].astype(str))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's FutureWarnings about LogisticRegressionCV defaults
        model = LogisticRegressionCV(Cs=8, cv=5, max_iter=3000).fit(train, samples[schema.GIVEN_LABEL].to_numpy())
    return float((model.predict(vectorizer.transform(test_texts)) == run.test_labels()).mean())


def run(sizes: Sizes, log: Log) -> list[Record]:
    log(f"[11] text: a {sizes.text_csv_rows}-row intent CSV with every default; intents detection over "
        f"{sizes.text_seeds} seed(s)")
    records: list[Record] = []
    with tempfile.TemporaryDirectory(prefix="gradsift-bench-text-") as tmp_name:
        tmp = Path(tmp_name)
        csv = tmp / f"intents{sizes.text_csv_rows}.csv"
        flipped = write_intent_csv(csv, sizes.text_csv_rows)
        env = {**_env(GRADSIFT_CACHE_DIR=str(tmp / "embedding-cache")), **thread_env(sizes.child_threads)}
        first, first_cpu = wall_and_cpu([*cli_command(), "analyze", "--dataset", str(csv), "--out",
                                         str(tmp / "csv-run"), *sizes.text_args], env, log_path=tmp / "csv.log")
        again = single = float("nan")
        if sizes.text_variants:
            again = _wall([*cli_command(), "analyze", "--dataset", str(csv), "--out", str(tmp / "csv-rerun"),
                           *sizes.text_args], env, log_path=tmp / "csv-rerun.log")
            single = _wall([*cli_command(), "analyze", "--dataset", str(csv), "--out", str(tmp / "csv-one-thread"),
                            *sizes.text_args], {**env, "GRADSIFT_CACHE_DIR": str(tmp / "cache-one-thread"),
                                                "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                                                "MKL_NUM_THREADS": "1"},
                           log_path=tmp / "csv-one-thread.log")
        csv_primary, csv_all = _scores(tmp / "csv-run")
        log(f"    {csv.name} ({flipped} labels flipped): first analysis {first:.1f} s (CPU {first_cpu:.1f} s)"
            + (f", again with cached embeddings {again:.1f} s, on one thread {single:.1f} s" if sizes.text_variants
               else "") + f"; primary P@5% {csv_primary:.3f}, normalized margin "
            f"{csv_all.get('normalized_margin', float('nan')):.3f}")
        records.append(target("text_csv_analyze_seconds", first, "s", "<= 60",
                              f"{sizes.text_csv_rows}-row intent CSV, every default, empty embedding cache"
                              + threads_note(sizes.child_threads)))
        records.append(info("text_csv_analyze_cpu_seconds", first_cpu, "s", "the first analysis's CPU seconds"))
        if sizes.text_variants:
            records += [info("text_csv_rerun_seconds", again, "s", "the same CSV again, embeddings from the cache"),
                        info("text_csv_analyze_one_thread_seconds", single, "s",
                             "the first analysis with torch, OpenMP and BLAS on one thread")]
        records.append(info("text_csv_primary_precision", csv_primary, ""))

        primary, margin, probe_accuracy, bow_accuracy = [], [], [], []
        detection_runs = []
        for seed in range(sizes.text_seeds):
            out = tmp / f"intents-{seed}"
            _wall([*cli_command(), "analyze", "--dataset", "intents", "--seed", str(seed), "--out", str(out),
                   *sizes.text_args], env, log_path=tmp / f"intents-{seed}.log")
            detection_runs.append((f"intents seed {seed}", out))
        if not detection_runs:  # text_seeds = 0 (--quick): the detection figures on the CSV run already made
            detection_runs.append((f"{csv.name} (text_seeds = 0)", tmp / "csv-run"))
        from core.run.rundir import RunDir

        for label, out in detection_runs:
            value, precision = _scores(out)
            primary.append(value)
            margin.append(precision["normalized_margin"])
            probe_accuracy.append(float(RunDir(out).read_manifest()["model"]["test_accuracy"]))
            if sizes.text_variants:
                bow_accuracy.append(bag_of_words_accuracy(out))
            log(f"    {label}: primary P@5% {primary[-1]:.3f}, normalized margin {margin[-1]:.3f}; "
                f"test accuracy probe {probe_accuracy[-1]:.3f}"
                + (f", bag of words {bow_accuracy[-1]:.3f}" if bow_accuracy else ""))
        where = (f"intents, mean over {len(primary)} seeds" if sizes.text_seeds else
                 f"the {sizes.text_csv_rows}-row CSV run (--quick; the full bench: intents, 1,000 requests)")
        records += [target("text_primary_minus_margin", float(np.mean(primary) - np.mean(margin)), "", ">= -0.01",
                           f"{where}: P@5% primary {np.mean(primary):.3f} vs cleanlab NM {np.mean(margin):.3f}"),
                    info("text_primary_precision", float(np.mean(primary)), "", where),
                    info("text_margin_precision", float(np.mean(margin)), "", where),
                    info("text_probe_test_accuracy", float(np.mean(probe_accuracy)), "", where)]
        if bow_accuracy:
            records.append(info("text_bag_of_words_test_accuracy", float(np.mean(bow_accuracy)), "",
                                f"{where}: TF-IDF 1-2 grams + logistic regression on the same split and noisy labels"))
    return records
