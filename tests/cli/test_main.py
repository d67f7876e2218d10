import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from core.cli.main import app

runner = CliRunner()
FAST = ["--epochs", "3", "--min-steps", "0", "--gradient-mode", "in_sample", "--embed", "pca", "--no-baselines"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_analyze_info_retrain_sweep(tmp_path):
    out = tmp_path / "blobs"
    result = invoke("analyze", "--dataset", "blobs", "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    assert "precision" in result.output and "test accuracy" in result.output
    info = invoke("info", out)
    assert info.exit_code == 0 and "iforest" in info.output and "10 of 150" in info.output
    retrained = invoke("retrain", out, "--detector", "l2", "--budget", "0.1", "--mode", "probe")
    assert retrained.exit_code == 0 and "change vs k = 0" in retrained.output
    assert "│ l2 " in retrained.output and " 15 " in retrained.output
    swept = invoke("sweep", out, "--detector", "l1", "--mode", "probe")
    assert swept.exit_code == 0 and "12.5%" in swept.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["analyze", "--dataset", "no-such-thing"], "neither a registered dataset"),
        (["analyze", "--dataset", "blobs", "--budget", "0"], "flag.budget"),
        (["analyze", "--dataset", "blobs", "--budget", "1.5"], "flag.budget"),
        (["analyze", "--dataset", "blobs", "--budget", "most"], "or 'auto'"),
        (["analyze", "--dataset", "blobs", "--detector", "magic"], "valid detectors"),
        (["analyze", "--dataset", "blobs", "--model", "gpt"], "valid models"),
        (["analyze", "--dataset", "blobs", "--model", "cnn"], "does not accept tabular"),
        (["info", "/no/such/run"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_without_traceback(tmp_path, args, message):
    result = invoke(*args, "--out", tmp_path / "run") if args[0] == "analyze" else invoke(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists(), "a refused analysis must not leave a run directory behind"


def test_empty_npz_is_refused_clearly(tmp_path):
    path = tmp_path / "empty.npz"
    np.savez(path, X=np.zeros((0, 2)), y=np.zeros(0, dtype=int))
    result = invoke("analyze", "--dataset", path, "--out", tmp_path / "run")
    assert result.exit_code == 2 and "empty.npz" in result.output


def test_help_does_not_import_torch():
    code = "import sys, core.cli.main; print('torch' in sys.modules, 'umap' in sys.modules)"
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.split() == ["False", "False"]


def test_listing_commands():
    for command, expected in (("datasets", "digits"), ("models", "resnet34"), ("detectors", "iforest")):
        result = invoke(command)
        assert result.exit_code == 0 and expected in result.output
