"""Last-layer refits fit on at most `train.probe_max_rows` rows, so a million-row outputs file stays minutes."""

import numpy as np
import pandas as pd

from core.bench.own_data import make_outputs
from core.config import DataConfig, EmbedConfig, FlagConfig, RunConfig, TrainConfig
from core.estimate import out_of_fold
from core.pipeline import retrain as retrain_module
from core.pipeline.runner import analyze
from core.run import schema


def test_refits_read_capped_subsamples_and_the_run_still_finds_the_noise(tmp_path, monkeypatch):
    outputs = tmp_path / "outputs.npz"
    make_outputs(outputs, 2500, 16, seed=0)  # 2,000 training rows, 500 test
    fits: list[int] = []
    real_fit = out_of_fold.train_linear_probe

    def counting_fit(features, labels, *args, **kwargs):
        fits.append(len(features))
        return real_fit(features, labels, *args, **kwargs)

    monkeypatch.setattr(out_of_fold, "train_linear_probe", counting_fit)
    monkeypatch.setattr(retrain_module, "train_linear_probe", counting_fit)
    config = RunConfig(data=DataConfig(dataset=str(outputs)), train=TrainConfig(probe_max_rows=300),
                       embed=EmbedConfig(method="pca"), flag=FlagConfig(budget=0.05))
    run = analyze(config, tmp_path / "run")
    assert fits and max(fits) <= 300, fits  # out-of-fold heads and probe retraining alike
    results = pd.read_parquet(run.file(schema.RETRAIN))
    assert (results["n_train"] <= 300).all() and len(results) == 2 * config.retrain.seed_count()
    samples = run.read_samples()
    truth = samples[schema.IS_NOISY].to_numpy(bool)
    flagged = samples[schema.IS_FLAGGED].to_numpy(bool)
    assert truth[flagged].mean() > 3 * truth.mean()  # far above chance (10% noise)
    assert np.isfinite(samples[schema.score_column("normalized_margin")]).all()


def test_bootstrap_is_m_out_of_n_above_the_cap():
    assert len(retrain_module.bootstrap_rows(1000, 0)) == 1000
    capped = retrain_module.bootstrap_rows(1000, 0, max_rows=100)
    assert len(capped) == 100 and capped.max() < 1000
    assert np.array_equal(retrain_module.bootstrap_rows(50, 3, max_rows=100), retrain_module.bootstrap_rows(50, 3))
