import pytest

"""Every user data format runs end to end through `analyze`, as a user would run it."""

import numpy as np
import pandas as pd
from PIL import Image

from core.config import BaselineConfig, DataConfig, FlagConfig, TrainConfig
from core.evaluate.report import run_summary
from core.pipeline.runner import analyze
from core.run import schema
from tests.conftest import fast_config
from tests.data.test_cifar import make_cifar10n


def _images(root, n_per_class=12, classes=("circle", "square", "stripe"), size=12, seed=0):
    """Small real PNG files whose pixel pattern depends on the class, so a model can learn them."""
    rng = np.random.default_rng(seed)
    paths, labels = [], []
    yy, xx = np.mgrid[:size, :size]
    patterns = {
        "circle": ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2),
        "square": (abs(yy - size / 2) < size / 4) & (abs(xx - size / 2) < size / 4),
        "stripe": (xx % 4 < 2),
    }
    for name in classes:
        for i in range(n_per_class):
            pixels = patterns[name] * 200 + rng.integers(0, 50, (size, size))
            path = root / name / f"{name}_{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.astype(np.uint8), mode="L").save(path)
            paths.append(path)
            labels.append(name)
    return paths, labels


def _check(run, n_train, has_truth, kind):
    samples = run.read_samples()
    manifest = run.read_manifest()
    assert len(samples) == n_train
    assert manifest["dataset"]["kind"] == kind
    assert samples[schema.IS_FLAGGED].sum() == round(0.1 * n_train)
    assert samples[schema.TRUE_LABEL].notna().all() == has_truth
    assert samples[schema.THUMBNAIL_ROW].notna().all() == (kind == "image")
    summary = run_summary(run.path)
    assert summary["has_truth"] == has_truth
    return samples, manifest


CONFIG = dict(flag=FlagConfig(budget=0.1))


def test_image_folder(tmp_path):
    _images(tmp_path / "shapes")
    run = analyze(fast_config(str(tmp_path / "shapes"), **CONFIG), tmp_path / "run")
    samples, manifest = _check(run, 28, has_truth=False, kind="image")
    assert manifest["dataset"]["class_names"] == ["circle", "square", "stripe"]
    assert samples[schema.SOURCE].str.match(r"^(circle|square|stripe)/\w+\.png$").all()


def test_csv_manifest_with_image_paths_and_injected_noise(tmp_path):
    paths, labels = _images(tmp_path / "imgs")
    manifest_path = tmp_path / "labels.csv"
    pd.DataFrame({"path": [p.relative_to(tmp_path).as_posix() for p in paths], "label": labels}).to_csv(
        manifest_path, index=False)
    config = fast_config(str(manifest_path), data=DataConfig(dataset=str(manifest_path), noise_rate=0.1), **CONFIG)
    run = analyze(config, tmp_path / "run")
    samples, manifest = _check(run, 28, has_truth=True, kind="image")
    assert manifest["dataset"]["n_noisy"] == round(0.1 * 28)


def test_parquet_manifest_with_features_and_string_labels(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.choice(["cat", "dog"], 80)
    features = rng.normal(size=(80, 3)) + (labels == "dog")[:, None] * 3
    given = labels.copy()
    given[:6] = np.where(given[:6] == "cat", "dog", "cat")
    frame = pd.DataFrame(features, columns=["f1", "f2", "f3"]).assign(label=given, true_label=labels)
    path = tmp_path / "table.parquet"
    frame.to_parquet(path)
    run = analyze(fast_config(str(path), **CONFIG), tmp_path / "run")
    samples, manifest = _check(run, 64, has_truth=True, kind="tabular")
    assert manifest["dataset"]["class_names"] == ["cat", "dog"]
    assert manifest["model"]["name"] == "mlp"


def test_npz_without_true_labels(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "arrays.npz"
    np.savez(path, X=rng.normal(size=(60, 4)).astype(np.float32), y=rng.integers(0, 3, 60))
    run = analyze(fast_config(str(path), **CONFIG), tmp_path / "run")
    _check(run, 48, has_truth=False, kind="tabular")
    assert any(row["budget"] == 0.1 for row in run_summary(run.path)["retrain"])


@pytest.mark.slow
def test_cifar10n_files_through_resnet18(tmp_path):
    make_cifar10n(tmp_path / "cifar")
    config = fast_config(
        "cifar10n",
        data=DataConfig(dataset="cifar10n", data_dir=str(tmp_path / "cifar"), label_set="aggregate"),
        train=TrainConfig(model="resnet18", epochs=1, batch_size=8, val_fraction=0.0, pretrained=False, min_steps=0),
        flag=FlagConfig(budget=0.1),
        baselines=BaselineConfig(enabled=False),
    )
    run = analyze(config, tmp_path / "run", retrain_after=False)
    samples = run.read_samples()
    manifest = run.read_manifest()
    assert manifest["model"]["name"] == "resnet18"
    assert manifest["gradients"]["width"] == 10 * 513
    assert samples[schema.IS_NOISY].sum() == 2
