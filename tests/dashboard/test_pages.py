"""Every page, through streamlit's AppTest, against real (small) runs."""

from __future__ import annotations

import json

import pytest

from core.config import DetectConfig
from core.run import schema
from core.run.rundir import RunDir
from dashboard import state
from tests.dashboard.conftest import PAGES, count, open_page, problems

DEFAULT_DETECTORS = list(DetectConfig().detectors)


@pytest.mark.parametrize("run_name", ["digits", "moons", "nolabels", "text"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_errors(app_env, run_name, page):
    app = open_page(app_env / run_name, page)
    assert not problems(app)
    assert app.title[0].value  # the page drew its title, not a blank screen


def test_overview_shows_metrics_and_accuracy(app_env):
    app = open_page(app_env / "digits")
    labels = {metric.label: metric.value for metric in app.metric}
    assert labels["dataset"] == "digits" and labels["noise rate"] == "10.0%"
    assert "after pruning" in app.metric[4].proto.delta
    table = app.dataframe[0].value
    assert list(table["method"][:len(DEFAULT_DETECTORS)]) == DEFAULT_DETECTORS
    assert set(table["kind"]) == {"outlier detector", "influence", "label quality"}
    assert {"precision@k", "recall@k", "AUROC", "AP"} <= set(table.columns)
    assert table["AUROC"].between(0, 1).all()


def test_overview_without_truth_says_so(app_env):
    app = open_page(app_env / "nolabels")
    assert app.metric[3].value == "unknown"
    assert list(app.dataframe[0].value.columns) == ["method", "kind", "flagged"]
    assert any("no true labels" in info.value for info in app.info)


def test_compare_runs(app_env):
    app = open_page(app_env / "digits")
    app.multiselect(key="compare_runs").set_value(["digits", "moons", "nolabels"]).run()
    assert not problems(app)
    compared = app.dataframe[-1].value
    assert list(compared["run"]) == ["digits", "moons", "nolabels"]


def test_gradient_selection_shows_the_selected_images(app_env):
    # Browsers deliver typed-array customdata rows as {"0": id, ...}; lists and scalars also occur.
    selection = {"selection": {"points": [{"customdata": {"0": 5, "1": 3}}, {"customdata": [7, 1]},
                                          {"customdata": 9}, {"customdata": {"0": 5}}]}}
    app = open_page(app_env / "digits", "gradient_space", gradient_map=selection)
    assert not problems(app)
    assert any(md.value == "#### 3 selected sample(s)" for md in app.markdown)
    assert count(app, "image") == 3
    assert app.selectbox(key="map_open_choice").options == [
        str(i)
        for i in sorted(
            [5, 7, 9],
            key=lambda i: -RunDir(app_env / "digits").read_samples()[schema.score_column(
                RunDir(app_env / "digits").flagging().detector)][i],
        )
    ]


def test_gradient_selection_on_tabular_run_shows_feature_space(app_env):
    selection = {"selection": {"points": [{"customdata": {"0": 1}}, {"customdata": {"0": 2}}]}}
    app = open_page(app_env / "moons", "gradient_space", gradient_map=selection)
    assert not problems(app)
    assert count(app, "image") == 0
    assert len(app.get("plotly_chart")) == 2  # the gradient map and the feature-space view
    assert sorted(app.dataframe[0].value[schema.SAMPLE_ID]) == [1, 2]


def test_gradient_map_options(app_env):
    app = open_page(app_env / "digits", "gradient_space")
    assert "true label" in app.selectbox(key="map_colour").options
    for colour in app.selectbox(key="map_colour").options:
        app.selectbox(key="map_colour").select(colour).run()
        assert not problems(app), colour
    app.button_group(key="map_kind").set_value("pca").run()
    assert not problems(app)
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["title"]["text"] == "PCA 1"
    app.button_group(key="map_kind").set_value("features").run()
    assert not problems(app)


def test_truth_views_hidden_without_labels(app_env):
    app = open_page(app_env / "nolabels", "gradient_space")
    options = app.selectbox(key="map_colour").options
    assert "true label" not in options and "truly noisy" not in options
    app = open_page(app_env / "nolabels", "outlier_vs_influence")
    assert any("no true labels" in caption.value for caption in app.caption)
    app = open_page(app_env / "nolabels", "flagged_review")
    assert not any(":green[true" in md.value for md in app.markdown)


def test_outlier_page_compares_detectors_when_no_baselines(app_env):
    app = open_page(app_env / "nolabels", "outlier_vs_influence")
    assert any("baselines appear here" in info.value for info in app.info)
    assert app.metric[0].label.startswith("Spearman rank correlation")
    overlap = app.dataframe[0].value
    pairs = len(DEFAULT_DETECTORS) * (len(DEFAULT_DETECTORS) - 1) // 2
    assert {"jaccard", "both"} <= set(overlap.columns) and len(overlap) == pairs
    assert len(app.get("plotly_chart")) == 2  # pair scatter, correlation heatmap; no truth, no PR curves


def test_outlier_page_against_baselines(app_env):
    app = open_page(app_env / "digits", "outlier_vs_influence")
    assert not problems(app)
    baselines = app.selectbox(key="ovi_x").options
    assert {"exact (influence)", "self_confidence (label quality)"} <= set(baselines)
    assert app.selectbox(key="ovi_y").options == DEFAULT_DETECTORS
    correlations = app.dataframe[0].value
    assert list(correlations.index) == DEFAULT_DETECTORS and len(correlations.columns) == len(baselines)
    assert correlations.abs().le(1).all().all()
    assert set(app.multiselect(key="ovi_curves").value) >= set(DEFAULT_DETECTORS)
    app.selectbox(key="ovi_x").select_index(1).run()
    app.toggle(key="ovi_ranks").set_value(False).run()
    assert not problems(app)


def test_unknown_score_columns_are_compared_too(writable_runs):
    run = RunDir(writable_runs / "digits")
    samples = run.read_samples()
    samples[schema.score_column("my_score")] = samples[schema.LOSS].to_numpy() * 2
    samples.to_parquet(run.file(schema.SAMPLES), index=False)
    app = open_page(run.path, "outlier_vs_influence")
    assert not problems(app)
    assert "my_score (other)" in app.selectbox(key="ovi_x").options


def test_sample_detail_opens_the_clicked_sample(app_env):
    app = open_page(app_env / "digits", "sample_detail", **{state.DETAIL_KEY: 17})
    assert not problems(app)
    assert app.number_input(key="detail_sample_input").value == 17
    scores = app.dataframe[0].value
    assert list(scores["method"][:len(DEFAULT_DETECTORS)]) == DEFAULT_DETECTORS
    assert scores["rank"].between(1, 1437).all()
    assert any("nearest neighbours" in md.value for md in app.markdown)
    assert count(app, "image") == 1 + 12  # the sample and its neighbours
    app.number_input(key="detail_sample_input").set_value(3).run()
    assert app.session_state[state.DETAIL_KEY] == 3


def test_details_button_switches_to_sample_detail(app_env):
    selection = {"selection": {"points": [{"customdata": {"0": 11}}]}}
    app = open_page(app_env / "digits", "gradient_space", gradient_map=selection)
    app.button(key="map_open").click().run()
    assert app.session_state[state.DETAIL_KEY] == 11
    assert app.title[0].value == "Sample detail"


def test_no_runs_gives_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADSIFT_RUNS_DIR", str(tmp_path))
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import APP

    app = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not app.exception
    assert any("gradsift analyze --dataset digits" in md.value for md in app.markdown)
    app.switch_page("pages/flagged_review.py").run()
    assert not app.exception and any("No analyzed runs" in info.value for info in app.info)


def test_unreadable_run_shows_an_error_not_a_traceback(writable_runs):
    manifest = writable_runs / "digits" / schema.MANIFEST
    manifest.write_text("{ not json")
    for page in PAGES:
        app = open_page(writable_runs / "digits", page)
        assert not app.exception, page
        assert any("corrupted" in error.value for error in app.error), page
    (writable_runs / "moons" / schema.SAMPLES).unlink()
    app = open_page(writable_runs / "moons", "gradient_space")
    assert not app.exception and "samples.parquet is missing" in app.error[0].value


def test_damaged_review_log_shows_an_error(writable_runs):
    (writable_runs / "digits" / "reviews.sqlite").write_bytes(b"this is not a database" * 100)
    for page in ("flagged_review", "budget_retrain", "sample_detail"):
        app = open_page(writable_runs / "digits", page)
        assert not app.exception, page
        assert any("reviews.sqlite cannot be used" in error.value for error in app.error), page


def test_reanalysis_invalidates_the_cache(writable_runs):
    run = RunDir(writable_runs / "digits")
    app = open_page(run.path, "overview")
    assert app.metric[1].value == "1,437"
    samples = run.read_samples().iloc[:1000]
    samples.to_parquet(run.file(schema.SAMPLES), index=False)
    app.run()
    assert app.metric[1].value == "1,000"


@pytest.mark.slow
def test_test_explorer_ranks_training_samples_for_a_test_sample(app_env):
    app = open_page(app_env / "digits", "test_explorer")
    assert not problems(app)
    assert app.number_input(key="explorer_test_input").value == 0
    methods = set(app.dataframe[0].value["method"])
    assert {"oga", "oga_class", "datainf", "tracing"} <= methods
    assert len(app.dataframe) == 1 + 5  # the metrics and one top-k table per method
    assert count(app, "image") >= 1 + 5  # the test image, then top training samples per method
    assert count(app, "plotly_chart") == 1  # the class heat map
    app.number_input(key="explorer_test_input").set_value(5).run()
    assert not problems(app)


def test_test_explorer_on_a_tabular_run(app_env):
    app = open_page(app_env / "moons", "test_explorer")
    assert not problems(app)
    assert count(app, "image") == 0 and len(app.dataframe) == 1 + 5


def test_the_launch_form_defaults_are_the_command_lines(app_env):
    """Every default of the overview's launch form is the one `gradsift analyze` would use."""
    from core.cli.analyze import _analyze_options

    cli = {option.path: option.default for option in _analyze_options()}
    app = open_page(app_env / "digits")
    assert app.selectbox(key="launch_dataset").value == cli["data.dataset"]
    assert app.selectbox(key="launch_model").value == cli["train.model"]
    assert app.multiselect(key="launch_detectors").value == list(cli["detect.detectors"])
    assert cli["flag.budget"] == "auto" and app.checkbox(key="launch_auto_budget").value
    assert app.number_input(key="launch_epochs").value == cli["train.epochs"]
    assert app.selectbox(key="launch_embed").value == cli["embed.method"]
    assert app.selectbox(key="launch_gradients").value == cli["gradients.mode"]
    from core.detect.flagging import primary_of

    assert primary_of(cli["flag.primary"], tuple(cli["detect.detectors"]), "classification") == "l2"
