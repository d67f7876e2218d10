"""core.export.downloads: what the dashboard downloads and saves is what `gradsift export` writes."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from core.cli.main import app
from core.export import downloads
from core.export.review_log import review_log_csv
from core.run import schema
from core.run.reviews import KEEP, MISLABELED, RELABEL, ReviewStore
from tests.export.conftest import QUICK, _analyze, copy_run


def cli_export(run_path: Path, fmt: str, out: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(run_path), "--format", fmt, "--out", str(out)])
    assert result.exit_code == 0, result.output


def review(run_path: Path) -> None:
    store = ReviewStore(run_path)
    store.record([0, 1], MISLABELED, "ann")
    store.record([2], RELABEL, "ann", new_label=1)
    store.record([3], KEEP, "bob")


@pytest.fixture(scope="session")
def npz_tabular(tmp_path_factory) -> Path:
    """A tabular .npz (3 Gaussian classes, 4 features, 8 flipped labels, y_true known)."""
    rng = np.random.default_rng(3)
    y_true = np.repeat(np.arange(3), 50)
    features = rng.normal(size=(150, 4)).astype(np.float32) + 3.0 * y_true[:, None]
    given = y_true.copy()
    given[rng.choice(150, 8, replace=False)] += 1
    path = tmp_path_factory.mktemp("export-data") / "tabular.npz"
    np.savez(path, X=features, y=given % 3, y_true=y_true)
    return path


@pytest.fixture(scope="session")
def npz_run(npz_tabular, tmp_path_factory):
    return _analyze(str(npz_tabular), tmp_path_factory.mktemp("export-runs") / "npz")


def test_tabular_manifest_download_is_the_cli_export_and_analyzes_again(npz_run, npz_tabular, tmp_path):
    from core.pipeline.runner import analyze
    from tests.conftest import fast_config

    run = copy_run(npz_run, tmp_path)
    review(run.path)
    exported = tmp_path / "cli.csv"
    cli_export(run.path, "manifest", exported)
    served = downloads.download(run.path, "manifest", "cleaned-manifest.csv")
    assert served.file_name == "cleaned-manifest.csv" and served.mime == "text/csv"
    assert served.data == exported.read_bytes()

    table = pd.read_csv(io.BytesIO(served.data))
    n = len(run.read_samples())
    assert len(table) == n - 2 and not {0, 1} & set(table["sample_id"])
    classes = run.read_manifest()["dataset"]["class_names"]
    assert str(table.set_index("sample_id").loc[2, "label"]) == str(classes[1])
    assert [c for c in table.columns if c.startswith("x")] == ["x0", "x1", "x2", "x3"]
    inputs = np.load(npz_tabular)["X"]
    source_rows = [int(s.split()[1]) for s in run.read_samples()[schema.SOURCE]]
    np.testing.assert_allclose(table[["x0", "x1", "x2", "x3"]].to_numpy(dtype=np.float32),
                               inputs[np.asarray(source_rows)[table["sample_id"].to_numpy()]], rtol=1e-6)

    again = analyze(fast_config(str(exported), **QUICK), tmp_path / "again", retrain_after=False)
    facts = again.read_manifest()["dataset"]
    assert facts["kind"] == "tabular" and facts["n_train"] + facts["n_test"] == n - 2
    assert len(again.read_samples()) == facts["n_train"]


def test_image_folder_manifest_download_is_the_cli_export(folder_run, tmp_path):
    run = copy_run(folder_run, tmp_path)
    review(run.path)
    exported = tmp_path / "cli.csv"
    cli_export(run.path, "manifest", exported)
    served = downloads.download(run.path, "manifest", "cleaned-manifest.csv")
    assert served.file_name == "cleaned-manifest.csv" and served.data == exported.read_bytes()
    table = pd.read_csv(io.BytesIO(served.data))
    assert list(table.columns) == ["sample_id", "label", "path"] and all(Path(p).is_file() for p in table["path"])


def test_in_memory_image_manifest_downloads_as_a_zip_of_the_cli_export(digits_copy, tmp_path):
    review(digits_copy.path)
    folder = tmp_path / "cli"
    exported = folder / "cleaned-manifest.csv"
    cli_export(digits_copy.path, "manifest", exported)
    served = downloads.download(digits_copy.path, "manifest", "cleaned-manifest.csv")
    assert served.file_name == "cleaned-manifest.zip" and served.mime == "application/zip"
    written = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with zipfile.ZipFile(io.BytesIO(served.data)) as archive:
        zipped = {name: archive.read(name) for name in archive.namelist()}
    assert zipped == written and len(zipped) == len(pd.read_csv(exported)) + 1
    assert served.data == downloads.download(digits_copy.path, "manifest", "cleaned-manifest.csv").data


def test_review_log_is_an_export_format(digits_copy, tmp_path):
    store = ReviewStore(digits_copy.path)
    store.record([2], RELABEL, "ann", new_label=7)
    store.record([3], KEEP, "ann")
    store.undo("ann")
    out = tmp_path / "log.csv"
    cli_export(digits_copy.path, "review-log", out)
    log = pd.read_csv(out, keep_default_na=False)
    assert log[schema.SAMPLE_ID].tolist() == [2, 3, 3]
    assert log["action"].tolist() == [RELABEL, KEEP, "clear"] and log["undoes"].tolist() == ["", "", "2"]
    assert log["new_label_name"].tolist() == ["7", "", ""]
    assert downloads.download(digits_copy.path, "review-log", "reviews.csv").data == out.read_bytes()
    refused = CliRunner().invoke(app, ["export", str(digits_copy.path), "--format", "review-log", "--out",
                                       str(tmp_path / "log2.csv"), "--only", "flagged"])
    assert refused.exit_code == 2 and "drop --only flagged" in refused.output


def test_review_log_names_the_new_class():
    history = pd.DataFrame({"review_id": [1, 2], schema.SAMPLE_ID: [2, 3], "action": [RELABEL, KEEP],
                            "new_label": pd.array([1, pd.NA], dtype="Int64")})
    lines = review_log_csv(history, ["cat", "dog"]).decode().strip().splitlines()
    assert lines == ["review_id,sample_id,action,new_label,new_label_name", "1,2,relabel,1,dog", "2,3,keep,,"]


def test_save_new_takes_the_first_free_name_and_never_overwrites(digits_copy, tmp_path):
    review(digits_copy.path)
    tmp_path = tmp_path / "saved"
    tmp_path.mkdir()
    (tmp_path / "log.csv").write_bytes(b"mine")
    first = downloads.save_new(digits_copy.path, "review-log", tmp_path, "log", ".csv")
    second = downloads.save_new(digits_copy.path, "review-log", tmp_path, "log", ".csv")
    assert [p.name for p in first.paths + second.paths] == ["log-2.csv", "log-3.csv"]
    assert (tmp_path / "log.csv").read_bytes() == b"mine"
    assert first.paths[0].read_bytes() == second.paths[0].read_bytes() != b""
    (tmp_path / "m_images").mkdir()  # the image folder's name is taken: the whole name is skipped
    saved = downloads.save_new(digits_copy.path, "manifest", tmp_path, "m", ".csv")
    assert [p.name for p in saved.paths] == ["m-2.csv", "m-2_images"]
    assert not (tmp_path / "m.csv").exists() and not list((tmp_path / "m_images").iterdir())


@pytest.mark.parametrize("role", ["viewer", "annotator"])
def test_exports_are_refused_in_core_to_roles_that_may_not_export(digits_copy, tmp_path, role):
    from core.auth.roles import Actor, PermissionDenied

    actor = Actor("mia", role)
    with pytest.raises(PermissionDenied, match=f"mia \\({role}\\) may not download"):
        downloads.download(digits_copy.path, "manifest", "cleaned.csv", actor=actor)
    target = tmp_path / "saves"
    target.mkdir()
    with pytest.raises(PermissionDenied):
        downloads.save_new(digits_copy.path, "review-log", target, "reviews", ".csv", actor=actor)
    assert not list(target.iterdir())
    assert downloads.download(digits_copy.path, "review-log", "log.csv", actor=Actor("lee", "lead")).data
