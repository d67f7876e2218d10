import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from core.cli.main import app
from core.config import TrainConfig
from core.protocols.paper import (
    PAPER_TABLE1_MOONS,
    TABLE1_METHODS,
    plot_table1,
    summarize_table1,
    table1,
)
from tests.data.test_cifar import make_cifar10n


@pytest.mark.slow
def test_table1_protocol_covers_all_twelve_methods(tmp_path):
    results = table1(tmp_path, seeds=1, train=TrainConfig(epochs=3, lr=1e-2, batch_size=32, min_steps=0))
    assert set(results.method) == set(TABLE1_METHODS) and len(TABLE1_METHODS) == 12
    assert set(results.setup) == {"blobs + logistic regression", "moons + MLP"}
    # Each method flagged exactly as many samples as were flipped: detection accuracy is a multiple of 1/10, 1/20.
    blobs = results[results.setup.str.startswith("blobs")].detection_accuracy
    assert np.allclose(blobs % 10, 0)
    summary = summarize_table1(results)
    moons = summary[summary.setup == "moons + MLP"].set_index("method")
    assert moons.loc["iforest", "paper_test_accuracy"] == PAPER_TABLE1_MOONS["iforest"][1]
    assert summary[summary.setup.str.startswith("blobs")].paper_test_accuracy.isna().all()
    plot_table1(summary, tmp_path / "table1.png")
    assert (tmp_path / "table1.png").stat().st_size > 10_000


def test_cifar_n_protocol_smoke_on_tiny_files(tmp_path):
    make_cifar10n(tmp_path / "cifar")
    result = CliRunner().invoke(app, [
        "reproduce", "cifar-n", "--data-dir", str(tmp_path / "cifar"), "--noise", "aggregate", "--epochs", "1",
        "--model", "cnn", "--batch-size", "8", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "no trimming" in result.output and "91.36" in result.output
    frame = pd.read_csv(tmp_path / "out" / "cifar_n_aggregate.csv")
    assert list(frame.method) == ["no trimming", "iforest", "l1", "l2"]


def test_budget_curve_on_an_existing_run(digits_run, tmp_path):
    result = CliRunner().invoke(app, ["reproduce", "budget-curve", "--run", str(digits_run.path), "--detector", "l2",
                                      "--mode", "probe", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "12.5%" in result.output and (tmp_path / "budget_curve.png").exists()
