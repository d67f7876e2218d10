"""What the person does on the pages changes the run directory: reviews, exports, retraining,
a new analysis."""

from __future__ import annotations

import io
import sqlite3
import zipfile

import numpy as np
import pandas as pd
import pytest

from core.run import reviews, schema
from core.run.results import read_results
from core.run.rundir import RunDir
from dashboard import jobs, paths
from tests.dashboard.conftest import open_page, problems

REVIEWER = {"reviewer": "alice"}


def review_rows(run_path) -> list[tuple]:
    with sqlite3.connect(run_path / reviews.REVIEWS) as connection:
        return connection.execute(
            "SELECT sample_id, action, new_label, reviewer FROM reviews ORDER BY review_id").fetchall()


def wait_for_jobs(app, key: str, timeout: float = 120) -> list[jobs.Job]:
    started = [jobs.get_job(job_id) for job_id in app.session_state[key]]
    for job in started:
        assert job.wait(timeout), f"{job.title} still running"
    return started


def test_review_page_actions_write_sqlite(writable_runs):
    run_path = writable_runs / "digits"
    app = open_page(run_path, "flagged_review", **REVIEWER)
    assert not problems(app)
    menus = app.menu_button
    assert len(menus) == 24  # one page of flagged samples
    first, second = (int(menu.key.rsplit("_", 1)[1]) for menu in menus[:2])
    menus[0].click("Confirm mislabeled").run()
    app.menu_button(key=f"review_menu_{second}").click("Relabel to 3").run()
    assert review_rows(run_path) == [(first, "mislabeled", None, "alice"), (second, "relabel", 3, "alice")]

    # Bulk: tick two cards, relabel them in one transaction.
    ticked = [int(box.key.rsplit("_", 1)[1]) for box in app.checkbox[2:4]]
    for box in app.checkbox[2:4]:
        box.check()
    app.selectbox(key="bulk_action").select(reviews.RELABEL).run()  # enables the class choice
    app.selectbox(key="bulk_target").select(7)
    app.button(key="bulk_apply").click().run()
    assert not problems(app)
    rows = review_rows(run_path)
    assert rows[2:] == [(ticked[0], "relabel", 7, "alice"), (ticked[1], "relabel", 7, "alice")]
    assert not any(box.value for box in app.checkbox)  # unticked after the action

    # Bulk on the whole page; the status filter then hides them.
    app.radio(key="bulk_scope").set_value("this page")
    app.selectbox(key="bulk_action").select(reviews.KEEP)
    app.button(key="bulk_apply").click().run()
    assert len(review_rows(run_path)) == 4 + 24
    app.button_group(key="review_status").set_value("unreviewed").run()
    shown = {int(menu.key.rsplit("_", 1)[1]) for menu in app.menu_button}
    assert not shown & {row[0] for row in review_rows(run_path)}
    decisions = reviews.ReviewStore(run_path).decisions()
    assert set(decisions[reviews.ACTION]) == {reviews.KEEP}


def test_reviews_need_a_name(writable_runs):
    app = open_page(writable_runs / "digits", "flagged_review")
    assert any("Reviewer name" in warning.value for warning in app.warning)
    assert app.menu_button[0].disabled and app.button(key="bulk_apply").disabled
    assert not (writable_runs / "digits" / reviews.REVIEWS).exists()


def test_review_filters(writable_runs):
    run_path = writable_runs / "digits"
    app = open_page(run_path, "flagged_review", **REVIEWER)
    app.multiselect(key="review_classes").set_value([4]).run()
    assert not problems(app)
    samples = RunDir(run_path).read_samples()
    shown = [int(menu.key.rsplit("_", 1)[1]) for menu in app.menu_button]
    assert shown and set(samples.loc[shown, schema.GIVEN_LABEL]) == {4}
    scores = samples.loc[shown, schema.score_column(RunDir(run_path).flagging().detector)].to_numpy()
    assert (scores[:-1] >= scores[1:]).all()  # highest score first
    app.selectbox(key="review_detector").select("l2").run()
    assert not problems(app)


def test_review_on_tabular_run_uses_the_table(writable_runs):
    run_path = writable_runs / "moons"
    app = open_page(run_path, "flagged_review", **REVIEWER)
    assert not problems(app)
    assert len(app.get("image")) == 0
    table = app.dataframe[0].value
    app.radio(key="bulk_scope").set_value("this page")
    app.selectbox(key="bulk_action").select(reviews.MISLABELED)
    app.button(key="bulk_apply").click().run()
    assert {row[0] for row in review_rows(run_path)} == set(table["sample"])


@pytest.fixture
def download_callables(monkeypatch) -> dict[str, tuple]:
    """(data callable, MIME type) of every deferred download button drawn, by file name: Streamlit runs the
    callable when the person clicks, so the test runs it instead."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    drawn: dict[str, tuple] = {}
    original = MediaFileManager.add_deferred

    def capture(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        drawn[file_name] = (data_callable, mimetype)
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", capture)
    return drawn


def files_under(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("run_name, manifest_download", [("digits", "cleaned-manifest.zip"),
                                                         ("moons", "cleaned-manifest.csv")])
def test_exports_are_the_cli_exports_and_never_overwrite(writable_runs, tmp_path, download_callables, run_name,
                                                         manifest_download):
    from core.export.source import export_run

    run_path = writable_runs / run_name
    store = reviews.ReviewStore(run_path)
    store.record([0, 1], reviews.MISLABELED, "bob")
    store.record([2], reviews.RELABEL, "bob", new_label=1)
    cli = tmp_path / "cli"
    export_run(run_path, "manifest", cli / "cleaned-manifest.csv")
    export_run(run_path, "review-log", cli / "reviews.csv")
    app = open_page(run_path, "flagged_review", **REVIEWER)
    assert not problems(app)
    assert set(download_callables) == {"reviews.csv", manifest_download}
    log, log_mime = download_callables["reviews.csv"]
    assert log() == (cli / "reviews.csv").read_bytes() and log_mime == "text/csv"
    manifest, _ = download_callables[manifest_download]
    exported = {name: data for name, data in files_under(cli).items() if name != "reviews.csv"}
    if manifest_download.endswith(".zip"):  # the manifest and its images folder
        with zipfile.ZipFile(io.BytesIO(manifest())) as archive:
            assert {name: archive.read(name) for name in archive.namelist()} == exported
        assert len(exported) > 2
    else:
        assert manifest() == exported["cleaned-manifest.csv"] and list(exported) == ["cleaned-manifest.csv"]

    app.button(key="export_save").click().run()
    assert not problems(app)
    app.button(key="export_save").click().run()
    manifests = sorted(run_path.glob("cleaned-manifest-*.csv"))
    logs = sorted(run_path.glob("reviews-*.csv"))
    assert len(manifests) == 2 and len(logs) == 2  # the second save took new names
    cleaned = pd.read_csv(manifests[0])
    expected = pd.read_csv(cli / "cleaned-manifest.csv")
    if run_name == "digits":  # the same manifest, its images beside it under the saved name
        expected["path"] = expected["path"].str.replace("cleaned-manifest_images/", f"{manifests[0].stem}_images/")
        images = run_path / f"{manifests[0].stem}_images"
        assert files_under(images) == files_under(cli / "cleaned-manifest_images")
    pd.testing.assert_frame_equal(cleaned, expected)
    n = len(RunDir(run_path).read_samples())
    assert len(cleaned) == n - 2 and 0 not in set(cleaned[schema.SAMPLE_ID])
    assert cleaned.loc[cleaned[schema.SAMPLE_ID] == 2, "label"].item() == 1
    log_rows = pd.read_csv(logs[0])
    assert list(log_rows[schema.SAMPLE_ID]) == [0, 1, 2] and set(log_rows[reviews.REVIEWER]) == {"bob"}
    assert {p.read_bytes() for p in logs} == {(cli / "reviews.csv").read_bytes()}


def test_sample_detail_review(writable_runs):
    run_path = writable_runs / "digits"
    app = open_page(run_path, "sample_detail", detail_sample=42, **REVIEWER)
    app.menu_button(key="detail_review_42").click("Keep (false alarm)").run()
    assert review_rows(run_path) == [(42, "keep", None, "alice")]
    assert app.dataframe[0].value[reviews.ACTION].tolist() == ["keep"]


@pytest.mark.parametrize("run_name", ["digits", "moons"])
def test_retrain_button_adds_a_result_row(writable_runs, run_name):
    run = RunDir(writable_runs / run_name)
    before = len(read_results(run))
    app = open_page(run.path, "budget_retrain")
    app.slider(key="retrain_budget").set_value(7.5)  # the slider alone trains nothing
    app.run()
    assert len(read_results(run)) == before and "retrain_jobs" not in app.session_state
    app.slider(key="retrain_budget").set_value(7.5)
    app.radio(key="retrain_mode").set_value("probe")
    next(b for b in app.button if b.label == "Retrain").click().run()
    assert not problems(app)
    (job,) = wait_for_jobs(app, "retrain_jobs")
    assert job.status == "done", job.error
    app.run()
    assert not problems(app)
    results = read_results(run)
    probe = results[results["mode"] == "probe"]
    assert {0.0, 0.075} <= set(probe["budget"])  # the paired baselines and the chosen budget
    chosen = probe[probe["budget"] == 0.075]
    assert sorted(chosen["seed"]) == [0, 1, 2, 3, 4]  # probe mode: five bootstrap seeds by default
    assert set(chosen["n_removed"]) == {round(0.075 * len(run.read_samples()))}
    assert np.allclose(chosen["delta"], chosen["test_accuracy"] - chosen["baseline_accuracy"])
    assert any("finished" in success.value for success in app.success)
    assert [chart.key for chart in app.get("plotly_chart")] == ["budget_curve", "retrain_curve"]


def test_retrain_with_reviews_applied(writable_runs):
    run = RunDir(writable_runs / "digits")
    reviews.ReviewStore(run.path).record([3, 4, 5], reviews.MISLABELED, "carol")
    reviews.ReviewStore(run.path).record([6], reviews.RELABEL, "carol", new_label=1)
    app = open_page(run.path, "budget_retrain")
    app.radio(key="retrain_mode").set_value("probe")
    app.slider(key="retrain_budget").set_value(0.0)
    next(b for b in app.button if b.label == "Retrain with my reviews applied").click().run()
    (job,) = wait_for_jobs(app, "retrain_jobs")
    assert job.status == "done", job.error
    from core.pipeline.retrain import bootstrap_rows

    n = len(run.read_samples())
    for row in job.result["rows"]:  # each seed's bootstrap resample, without the three confirmed mislabeled
        assert row["reviews_key"] and row["n_relabelled"] == 1
        assert row["n_train"] == int((~np.isin(bootstrap_rows(n, row["seed"]), [3, 4, 5])).sum())
    app.run()
    assert not problems(app)


def test_retrain_with_no_reviews_explains(writable_runs):
    app = open_page(writable_runs / "digits", "budget_retrain")
    app.radio(key="retrain_mode").set_value("probe")
    next(b for b in app.button if b.label == "Retrain with my reviews applied").click().run()
    (job,) = wait_for_jobs(app, "retrain_jobs")
    app.run()
    assert job.status == "failed" and "no review decisions" in app.error[0].value


def test_launch_analysis_from_the_overview(writable_runs):
    app = open_page(writable_runs / "digits", "overview")
    app.radio(key="launch_source").set_value("Embedded dataset")
    app.selectbox(key="launch_dataset").select("blobs")
    app.text_input(key="launch_name").input("launched")
    app.number_input(key="launch_epochs").set_value(2)
    app.selectbox(key="launch_embed").select("pca")
    app.multiselect(key="launch_detectors").set_value(["l2", "iforest"])
    next(b for b in app.button if b.label == "Analyze").click().run()
    assert not problems(app)
    (job,) = wait_for_jobs(app, "analysis_jobs", timeout=300)
    assert job.status == "done", job.error
    manifest = RunDir(writable_runs / "launched").read_manifest()
    assert manifest["config"]["data"]["dataset"] == "blobs"
    assert manifest["config"]["detect"]["detectors"] == ["l2", "iforest"]
    assert manifest["stages"]["evaluate"]["complete"]
    app.run()
    assert any("finished" in success.value for success in app.success)
    assert str(writable_runs / "launched") in paths.list_runs(writable_runs)


def test_launch_refuses_paths_outside_the_allowed_roots(writable_runs, tmp_path, monkeypatch):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    monkeypatch.setenv(paths.DATA_ROOTS_ENV, str(allowed))
    app = open_page(writable_runs / "digits", "overview")
    app.radio(key="launch_source").set_value("Path")
    app.text_input(key="launch_path").input("/etc/passwd")
    next(b for b in app.button if b.label == "Analyze").click().run()
    assert "outside the allowed data directories" in app.error[0].value
    app.text_input(key="launch_path").input(str(allowed / "missing.npz"))
    next(b for b in app.button if b.label == "Analyze").click().run()
    assert "does not exist" in app.error[0].value
    # A manifest inside the allowed directory whose rows point outside it is refused too.
    (tmp_path / "outside.png").write_bytes(b"")
    pd.DataFrame({"path": ["../outside.png", "../outside.png"], "label": [0, 1]}).to_csv(allowed / "m.csv", index=False)
    app.text_input(key="launch_path").input(str(allowed / "m.csv"))
    next(b for b in app.button if b.label == "Analyze").click().run()
    assert "names 2 file(s) outside the allowed data directories" in app.error[0].value
    assert "analysis_jobs" not in app.session_state


def test_test_samples_can_be_reviewed_and_give_a_reviewed_accuracy(writable_runs):
    from core.evaluate.report import reviewed_test_accuracy

    run = RunDir(writable_runs / "digits")
    app = open_page(run.path, "flagged_review", **REVIEWER)
    app.button_group(key="review_split").set_value("test samples").run()
    assert not problems(app)
    menus = app.menu_button
    assert len(menus) == 18 and all(menu.key.startswith("test_review_") for menu in menus)
    first, second = (int(menu.key.rsplit("_", 1)[1]) for menu in menus[:2])
    menus[0].click("Keep (false alarm)").run()
    app.menu_button(key=f"test_review_{second}").click("Relabel to 3").run()
    assert not problems(app)
    with sqlite3.connect(run.path / reviews.TEST_REVIEWS) as connection:
        rows = connection.execute("SELECT sample_id, action, new_label FROM reviews ORDER BY review_id").fetchall()
    assert rows == [(first, "keep", None), (second, "relabel", 3)]
    assert not (run.path / reviews.REVIEWS).exists() or not review_rows(run.path)  # the training log is untouched
    predicted = run.read_npz(schema.ERM_OUTPUTS)["test_probs"].argmax(axis=1)
    labels = run.test_labels()
    expected = np.mean([predicted[first] == labels[first], predicted[second] == 3])
    assert reviewed_test_accuracy(run) == {"n_reviewed": 2, "n_used": 2, "accuracy": expected}
    assert "accuracy on the 2 reviewed" in " ".join(caption.value for caption in app.caption)
