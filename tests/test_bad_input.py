"""Table-driven: every user mistake gets one specific line, exit status 2, no traceback, nothing lost."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from core.cli.main import app
from core.run import schema

FAST = ["--epochs", "2", "--min-steps", "0", "--embed", "pca", "--no-baselines", "--no-retrain"]


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _folder(root, corrupt=None):
    for label in ("a", "b"):
        for i in range(4):
            (root / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(root / label / f"{i}.png")
    if corrupt is not None:
        (root / "a" / "broken.png").write_bytes(corrupt)
    return root


def _csv(path, frame):
    frame.to_csv(path, index=False)
    return path


def _parquet(path, frame):
    frame.to_parquet(path)
    return path


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels and holds none: what a decompression bomb looks like to a reader."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


rng = np.random.default_rng(0)
CASES = {
    "missing path": (lambda d: d / "nowhere.npz", "neither a registered dataset"),
    "empty dataset": (lambda d: _npz(d / "empty.npz", X=np.zeros((0, 3)), y=np.zeros(0, int)), "empty.npz"),
    "single class": (lambda d: _npz(d / "one.npz", X=rng.normal(size=(20, 2)), y=np.zeros(20, int)), "class"),
    "negative labels": (lambda d: _npz(d / "neg.npz", X=rng.normal(size=(20, 2)), y=-np.ones(20, int)), "neg.npz"),
    "NaN features": (lambda d: _npz(d / "nan.npz", X=np.full((20, 2), np.nan), y=np.arange(20) % 2), "nan.npz"),
    "corrupt image": (lambda d: _folder(d / "imgs", corrupt=b"\x89PNG\r\n\x1a\nnot really"), "broken.png"),
    "non-image file with image suffix": (lambda d: _folder(d / "imgs", corrupt=b"hello, I am text"), "broken.png"),
    "manifest without label column": (
        lambda d: _csv(d / "m.csv", pd.DataFrame({"f": [1.0, 2.0], "class": [0, 1]})), "label"),
    "manifest with missing labels": (
        lambda d: _csv(d / "m.csv", pd.DataFrame({"f": np.arange(10.0), "label": [0, 1, None] + [1] * 7})), "label"),
    "manifest paths that do not exist": (
        lambda d: _csv(d / "m.csv", pd.DataFrame({"path": ["x.png", "y.png"], "label": [0, 1]})), "x.png"),
    "empty image file": (lambda d: _folder(d / "imgs", corrupt=b""), "the file is empty"),
    "decompression bomb": (lambda d: _folder(d / "imgs", corrupt=_png_header(40_000, 40_000)), "decompression bomb"),
    "archive that needs pickle": (lambda d: _npz(d / "obj.npz", X=np.array([[object()]] * 20, dtype=object),
                                                 y=np.arange(20) % 2), "needs pickle"),
    "target column of strings": (
        lambda d: _csv(d / "m.csv", pd.DataFrame({"f": np.arange(10.0), "target": ["12 kg", "3"] * 5})),
        "target column 'target' holds 5 non-numeric values in rows 0, 2, 4, 6, 8"),
    "NaN target": (lambda d: _csv(d / "m.csv", pd.DataFrame({"f": np.arange(10.0), "target": ["1.5"] * 9 + ["nan"]})),
                   "target column 'target' holds 1 NaN or infinite values in rows 9"),
    "infinite target": (lambda d: _npz(d / "inf.npz", X=rng.normal(size=(20, 2)), y=np.r_[np.full(19, 0.5), np.inf]),
                        "target column 'y' holds 1 NaN or infinite values in positions 19"),
    "empty tag name": (lambda d: _csv(d / "m.csv", pd.DataFrame({"f": np.arange(10.0), "labels": ["a|b", "a||b"] * 5})),
                       "column 'labels' row 1 holds an empty tag name"),
    "tag outside the tag list": (
        lambda d: _parquet(d / "o.parquet", pd.DataFrame({"features": [[0.0, 1.0]] * 4, "probs": [[0.5, 0.5]] * 4,
                                                          "labels": [[0], [1], [2], []]})),
        "column 'labels' row 2 holds tag(s) 2 that the tag list (0, 1) does not hold"),
    "duplicated sample ids": (
        lambda d: _csv(d / "m.csv", pd.DataFrame({"sample_id": [1, 1, 2, 3], "f": [0.0, 1, 2, 3],
                                                  "label": [0, 1, 0, 1]})), "sample_id"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_dataset(tmp_path, case):
    make, fragment = CASES[case]
    dataset = make(tmp_path)
    result = CliRunner().invoke(app, ["analyze", "--dataset", str(dataset), "--out", str(tmp_path / "run"), *FAST])
    assert result.exit_code == 2, result.output
    assert fragment in result.output, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 3, "one error line (after the 'analyzing' line)"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--budget", "0"], "flag.budget"), (["--budget", "1"], "flag.budget"), (["--budget", "-0.2"], "flag.budget"),
    (["--budget", "0.001"], "flags round"), (["--detector", "zscore"], "valid detectors"),
    (["--model", "bert"], "valid models"), (["--dataset", "imagenet"], "registered dataset"),
    (["--dataset", "cifar10n", "--data-dir", "."], "CIFAR-10_human.pt"),
    (["--gradient-mode", "sometimes"], "gradients.mode"),
    (["--task", "regression"], "dataset 'blobs' is a classification dataset; --task regression does not fit it"),
    (["--noise", "targets", "--noise-rate", "0.1"], "noise model 'targets' corrupts regression labels"),
])
def test_bad_options(tmp_path, args, fragment):
    base = ["analyze", "--dataset", "blobs", "--out", str(tmp_path / "run"), *FAST]
    result = CliRunner().invoke(app, base + args)
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output


@pytest.fixture(scope="module")
def blobs_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bad") / "blobs"
    result = CliRunner().invoke(app, ["analyze", "--dataset", "blobs", "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    return out


def test_run_directory_of_another_config_is_refused_and_untouched(blobs_run):
    before = (blobs_run / schema.SAMPLES).read_bytes()
    result = CliRunner().invoke(app, ["analyze", "--dataset", "blobs", "--out", str(blobs_run), *FAST, "--seed", "9"])
    assert result.exit_code == 2 and "seed: 0 -> 9" in result.output
    assert (blobs_run / schema.SAMPLES).read_bytes() == before


def test_damaged_run_files_are_named(blobs_run, tmp_path):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(blobs_run, damaged)
    data = (damaged / schema.SAMPLES).read_bytes()
    (damaged / schema.SAMPLES).write_bytes(data[: len(data) // 3])
    result = CliRunner().invoke(app, ["info", str(damaged)])
    assert result.exit_code == 2 and "samples.parquet is corrupted or truncated" in result.output

    (damaged / schema.SAMPLES).write_bytes(data)
    factors = (damaged / schema.FACTORS).read_bytes()
    (damaged / schema.FACTORS).write_bytes(factors[: len(factors) // 2])
    manifest = json.loads((damaged / schema.MANIFEST).read_text())
    for stage in ("scores", "baselines", "embedding", "samples", "evaluate"):
        manifest["stages"].pop(stage)
    (damaged / schema.MANIFEST).write_text(json.dumps(manifest))
    result = CliRunner().invoke(app, ["analyze", "--dataset", "blobs", "--out", str(damaged), *FAST])
    assert result.exit_code == 2 and "gradient_factors.npz is corrupted or truncated" in result.output, result.output
    assert (damaged / schema.SAMPLES).read_bytes() == data, "the complete table is kept until replaced"

    manifest = json.loads((damaged / schema.MANIFEST).read_text())
    manifest["schema_version"] = 0
    (damaged / schema.MANIFEST).write_text(json.dumps(manifest))
    result = CliRunner().invoke(app, ["info", str(damaged)])
    assert result.exit_code == 2 and "schema 0" in result.output


def test_checkpoint_is_never_unpickled(blobs_run, tmp_path):
    """A checkpoint that would run code when unpickled is refused by weights_only loading."""
    import shutil

    import torch

    from core.data.load import load_dataset
    from core.errors import RunDirError
    from core.pipeline.artifacts import load_run_model
    from core.run.rundir import RunDir

    class Payload:
        def __reduce__(self):
            return (shutil.rmtree, (str(tmp_path / "victim"),))

    (tmp_path / "victim").mkdir()
    copy = tmp_path / "copy"
    shutil.copytree(blobs_run, copy)
    torch.save({"evil": Payload()}, copy / schema.MODEL)
    run = RunDir(copy)
    with pytest.raises(RunDirError, match="not a readable checkpoint"):
        load_run_model(run, run.read_manifest(), load_dataset(run.config().data, 0))
    assert (tmp_path / "victim").exists()


def test_the_cli_reads_the_files_a_users_manifest_names_even_outside_its_folder(tmp_path):
    from PIL import Image

    (tmp_path / "images").mkdir()
    for i in range(40):
        Image.fromarray(np.full((8, 8), 6 * i, np.uint8)).save(tmp_path / "images" / f"{i}.png")
    (tmp_path / "manifests").mkdir()
    pd.DataFrame({"path": [f"../images/{i}.png" for i in range(40)], "label": [i % 2 for i in range(40)]}).to_csv(
        tmp_path / "manifests" / "m.csv", index=False)
    result = CliRunner().invoke(app, ["analyze", "--dataset", str(tmp_path / "manifests" / "m.csv"), "--out",
                                      str(tmp_path / "run"), *FAST])
    assert result.exit_code == 0, result.output


def test_an_unwritable_out_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["analyze", "--dataset", "blobs", "--out", "/proc/gradsift-run", *FAST])
    assert result.exit_code == 2 and "cannot write in /proc/gradsift-run" in result.output, result.output
    assert "Traceback" not in result.output


def test_a_run_directory_that_cannot_take_results_is_one_line(blobs_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(blobs_run, copy)
    (copy / ".retrain.lock").mkdir()  # the results lock cannot be opened: as if the directory were read-only
    before = (copy / schema.RETRAIN).read_bytes() if (copy / schema.RETRAIN).exists() else None
    result = CliRunner().invoke(app, ["retrain", str(copy), "--detector", "l2", "--mode", "probe", "--seeds", "1"])
    assert result.exit_code == 2 and "cannot record a retraining result" in result.output, result.output
    after = (copy / schema.RETRAIN).read_bytes() if (copy / schema.RETRAIN).exists() else None
    assert after == before


def test_a_second_writer_is_refused_and_the_first_keeps_its_run(blobs_run):
    from core.run.rundir import RunDir

    before = (blobs_run / schema.SAMPLES).read_bytes()
    with RunDir(blobs_run).writing():  # another process analyzing this directory
        result = CliRunner().invoke(app, ["analyze", "--dataset", "blobs", "--out", str(blobs_run), *FAST])
    assert result.exit_code == 2 and "being analyzed by another gradsift process" in result.output, result.output
    assert (blobs_run / schema.SAMPLES).read_bytes() == before


@pytest.mark.slow
def test_a_sweep_killed_midway_keeps_its_rows_and_resumes(blobs_run, tmp_path):
    import shutil
    import subprocess
    import sys
    import time

    from core.run.results import read_results
    from core.run.rundir import RunDir

    copy = tmp_path / "copy"
    shutil.copytree(blobs_run, copy)
    command = [sys.executable, "-m", "core.cli.main", "sweep", str(copy), "--detector", "l2", "--mode", "full",
               "--seeds", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not (copy / schema.RETRAIN).exists() or len(read_results(RunDir(copy))) < 3):
        time.sleep(0.05)
    process.kill()
    process.wait(10)
    partial = read_results(RunDir(copy))  # readable: every row was written atomically
    assert 3 <= len(partial) < 12
    result = CliRunner().invoke(app, command[3:])
    assert result.exit_code == 0, result.output
    final = read_results(RunDir(copy))
    assert len(final) == len(final["request_key"].unique()) == 12  # 6 budgets (k = 0 included) x 2 seeds
    kept = final.set_index("request_key").loc[partial["request_key"], "test_accuracy"].to_numpy()
    assert (kept == partial["test_accuracy"].to_numpy()).all()
