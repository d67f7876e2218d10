"""Pure pieces of the dashboard: selection parsing, figure builders, input checks, caches."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from core.run import schema
from dashboard import figures, formatting, paths, widgets


@pytest.mark.parametrize("customdata", [{"0": 4, "1": 2}, {0: 4}, [4, 2], (4,), np.array([4.0, 1.0]), 4, 4.0])
def test_selected_ids_accepts_every_customdata_shape(customdata):
    event = {"selection": {"points": [{"customdata": customdata}]}}
    assert figures.selected_ids(event) == [4]


def test_selected_ids_edge_cases():
    assert figures.selected_ids(None) == [] and figures.selected_ids({}) == []
    event = {"selection": {"points": [{"customdata": {"0": 3}}, {"customdata": None}, {"x": 1},
                                      {"customdata": "junk"}, {"customdata": {"0": 3}}, {"customdata": [1]}]}}
    assert figures.selected_ids(event) == [1, 3]


def test_scatter_figure_one_trace_per_category_with_sample_ids():
    n = 1000
    rng = np.random.default_rng(0)
    labels = rng.integers(-1, 3, n)
    custom = np.column_stack([np.arange(n) + 100, labels])
    figure = figures.scatter_figure(rng.random(n), rng.random(n), custom, color=labels,
                                       categories=["a", "b", "c"], highlight=np.array([5, 6]))
    names = [trace.name for trace in figure.data]
    assert sorted(names[:-1]) == ["a", "b", "c", "unknown"] and names[-1] == "highlighted"
    for trace in figure.data[:-1]:
        ids = np.asarray(trace.customdata)[:, 0] - 100
        expected = {"a": 0, "b": 1, "c": 2, "unknown": -1}[trace.name]
        assert (labels[ids.astype(int)] == expected).all()
    assert sum(len(trace.x) for trace in figure.data[:-1]) == n
    assert all(trace.type == "scattergl" for trace in figure.data)


def test_scatter_figure_continuous_and_named_colours():
    custom = np.arange(5)[:, None]
    continuous = figures.scatter_figure(np.arange(5), np.arange(5), custom, color=np.linspace(0, 1, 5))
    assert len(continuous.data) == 1 and continuous.data[0].marker.showscale
    flags = figures.scatter_figure(np.arange(5), np.arange(5), custom, color=np.array([0, 1, 0, 0, 1]),
                                      categories=("no", "yes"))
    assert {trace.name: trace.marker.color for trace in flags.data} == {"no": "#c7c7cc", "yes": "#dc2626"}


def test_large_maps_draw_every_kept_point_and_a_sample_of_the_rest(monkeypatch):
    monkeypatch.setattr(figures, "MAX_DRAWN", 500)
    n = 5000
    rng = np.random.default_rng(1)
    flagged = rng.random(n) < 0.05
    x, y = rng.random(n), rng.random(n)
    custom = np.column_stack([np.arange(n), flagged])
    figure = figures.scatter_figure(x, y, custom, color=flagged.astype(np.int64), categories=("no", "yes"),
                                    keep=flagged, highlight=np.array([7, 4000]))
    drawn = np.concatenate([np.asarray(trace.customdata)[:, 0] for trace in figure.data[:-1]]).astype(int)
    assert len(drawn) == 500 and len(set(drawn)) == 500
    assert set(np.flatnonzero(flagged)) <= set(drawn), "every flagged sample is drawn"
    assert {7, 4000} <= set(drawn)
    ring = figure.data[-1]
    assert sorted(np.asarray(ring.customdata)[:, 0].astype(int)) == [7, 4000], "rings still mark the right samples"
    assert np.allclose(sorted(ring.x), sorted([x[7], x[4000]]))
    again = figures.scatter_figure(x, y, custom, color=flagged.astype(np.int64), categories=("no", "yes"),
                                   keep=flagged, highlight=np.array([7, 4000]))
    assert again.to_json() == figure.to_json(), "the drawn sample is seeded"
    assert "500 points of 5,000" in figures.drawn_note(n) and figures.drawn_note(499) == ""


def test_scatter_figure_with_many_classes_uses_one_trace():
    labels = np.arange(1000) % 100
    figure = figures.scatter_figure(np.arange(1000.0), np.arange(1000.0), np.arange(1000)[:, None],
                                       color=labels, categories=[str(i) for i in range(100)])
    assert len(figure.data) == 1 and figure.data[0].marker.cmax == 99


def test_colour_values_cover_every_option():
    frame = pd.DataFrame({
        schema.GIVEN_LABEL: [0, 1, 2], schema.PRED_LABEL: [0, 1, 1],
        schema.TRUE_LABEL: pd.array([0, None, 2], dtype="Int64"),
        schema.IS_NOISY: pd.array([False, None, True], dtype="boolean"), "score_x": [0.1, 0.5, 0.9]})
    flagged = np.array([False, True, True])
    decisions = np.array(["", "keep", "relabel"], dtype=object)
    for option in figures.colour_options(True):
        values, categories, _ = figures.colour_values(frame, option, ["a", "b", "c"], score_column="score_x",
                                                         flagged=flagged, decisions=decisions)
        assert len(values) == 3
    values, categories, _ = figures.colour_values(frame, figures.COLOUR_TRUE, ["a", "b", "c"],
                                                     score_column="score_x", flagged=flagged)
    assert values.tolist() == [0, -1, 2]
    values, categories, _ = figures.colour_values(frame, figures.COLOUR_REVIEW, [], score_column="score_x",
                                                     flagged=flagged, decisions=decisions)
    assert [categories[v] for v in values] == ["unreviewed", "keep", "relabel"]
    assert figures.COLOUR_TRUE not in figures.colour_options(False)


def test_review_options_round_trip():
    names = ["cat", "dog"]
    for option in widgets.review_options(names):
        action, label = widgets.parse_review_option(option, names)
        assert action in ("mislabeled", "keep", "clear", "relabel")
        assert (label is not None) == (action == "relabel")
    assert widgets.parse_review_option("Relabel to dog", names) == ("relabel", 1)


def test_accuracy_figure_draws_means_bands_baseline_and_reviews():
    summaries = pd.DataFrame({
        "detector": [None, "iforest", "iforest"], "mode": ["probe"] * 3, "budget": [0.0, 0.05, 0.05],
        "reviews": [None, None, "abc"], "seeds": [[0, 1, 2]] * 3, "accuracy_mean": [0.9, 0.92, 0.93],
        "accuracy_ci": [[0.88, 0.92], [0.91, 0.93], [0.92, 0.94]]})
    figure = figures.accuracy_figure(summaries)
    assert [trace.name for trace in figure.data] == ["iforest 95% CI", "iforest", "with my reviews applied"]
    assert list(figure.data[1].x) == [0.0, 5.0] and list(figure.data[1].y) == [0.9, 0.92]
    band = figure.data[0]
    assert list(band.y) == [0.92, 0.93, 0.91, 0.88]  # upper bounds out, lower bounds back
    assert figure.layout.shapes[0].y0 == 0.88 and figure.layout.shapes[0].y1 == 0.92  # the k = 0 band
    assert figure.layout.shapes[1].y0 == 0.9  # the k = 0 mean


def test_labels_markdown_colours():
    row = {schema.GIVEN_LABEL: 1, schema.TRUE_LABEL: 0, schema.PRED_LABEL: 0}
    text = formatting.labels_markdown(row, ["cat", "dog"], truth_known=True)
    assert ":red[given **dog**]" in text and ":green[true **cat**]" in text
    assert ":green" not in formatting.labels_markdown(row, ["cat", "dog"], truth_known=False)


def test_resolve_dataset_path(tmp_path):
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "x.npz").write_bytes(b"")
    outside = tmp_path / "secret.npz"
    outside.write_bytes(b"")
    (root / "link.npz").symlink_to(outside)
    assert paths.resolve_dataset_path("sub/x.npz", [root]) == (root / "sub" / "x.npz").resolve()
    assert paths.resolve_dataset_path(str(root / "sub"), [root]) == (root / "sub").resolve()
    for text, message in [("", "type a dataset path"), ("sub/missing.npz", "does not exist"),
                          (str(outside), "outside the allowed"), ("link.npz", "outside the allowed"),
                          ("../secret.npz", "outside the allowed")]:
        with pytest.raises(ConfigError, match=message):
            paths.resolve_dataset_path(text, [root])


def test_allowed_roots_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_ROOTS_ENV, f"{tmp_path}{os.pathsep}{tmp_path / 'b'}")
    assert paths.allowed_roots() == [tmp_path.resolve(), (tmp_path / "b").resolve()]
    monkeypatch.delenv(paths.DATA_ROOTS_ENV)
    (root,) = paths.allowed_roots()
    assert root.samefile(os.getcwd())


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 65, "sp ace"])
def test_run_names_must_be_plain(name, tmp_path):
    with pytest.raises(ConfigError):
        paths.new_run_path(name, tmp_path)


def test_run_names_ok(tmp_path):
    assert paths.new_run_path("digits-2.b_c", tmp_path) == tmp_path / "digits-2.b_c"


def test_list_runs_only_lists_run_directories(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / schema.MANIFEST).write_text("{}")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / schema.MANIFEST).write_text("{}")
    (tmp_path / "notes").mkdir()
    (tmp_path / "file.txt").write_text("")
    assert paths.list_runs(tmp_path) == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert paths.list_runs(tmp_path / "missing") == []


def test_pair_matrix_counts_and_clickable_cells():
    given, suggested = np.array([0, 0, 1, 2, 2, 2]), np.array([1, 1, 1, 0, 2, 0])
    counts = figures.pair_counts(given, suggested, 3)
    assert counts.tolist() == [[0, 2, 0], [0, 1, 0], [2, 0, 1]]
    figure = figures.pair_matrix_figure(counts, ["a", "b", "c"])
    heat, cells = figure.data
    assert heat.type == "heatmap" and cells.type == "scatter"
    assert {tuple(int(v) for v in row) for row in cells.customdata} == {(0, 1, 2), (1, 1, 1), (2, 0, 2), (2, 2, 1)}
    assert figures.pair_matrix_figure(np.zeros((2, 2), np.int64), ["a", "b"]).data[1].customdata.shape == (0, 3)


@pytest.mark.parametrize("customdata", [[2, 0, 5], {"0": 2, "1": 0, "2": 5}, {0: 2, 1: 0}, np.array([2.0, 0.0, 5.0])])
def test_selected_pair_accepts_every_customdata_shape(customdata):
    assert figures.selected_pair({"selection": {"points": [{"customdata": customdata}]}}) == (2, 0)


def test_selected_pair_edge_cases():
    assert figures.selected_pair(None) is None and figures.selected_pair({"selection": {"points": []}}) is None
    junk = {"selection": {"points": [{"customdata": [1]}, {"customdata": {"0": "x", "1": 2}}, {"x": 1},
                                     {"customdata": [3, 1, 4]}]}}
    assert figures.selected_pair(junk) == (3, 1)


def test_budget_figure_marks_the_suggestion_and_the_current_budget():
    curve = pd.DataFrame({"budget": [0.05, 0.1], "precision": [0.9, 0.8], "recall": [0.4, 0.7],
                          "true_precision": [0.95, 0.7]})
    figure = figures.budget_figure(curve, {"value": 0.08, "low": 0.06, "high": 0.1}, 0.05)
    assert [trace.name for trace in figure.data] == ["estimated precision", "estimated recall", "true precision"]
    shapes = figure.layout.shapes
    assert any(
        shape.type == "rect" and shape.x0 == pytest.approx(6) and shape.x1 == pytest.approx(10) for shape in shapes
    )
    assert {round(shape.x0, 6) for shape in shapes if shape.type == "line"} == {8.0, 5.0}
    assert len(figures.budget_figure(curve, None, 0.05).layout.shapes) == 1


def test_agreement_matrix_figure_shows_each_pair_and_leaves_unshared_pairs_blank():
    names = ["ana", "ben"]
    agreement = pd.DataFrame([[1.0, 0.5], [0.5, float("nan")]], index=names, columns=names)
    shared = pd.DataFrame([[4, 2], [2, 0]], index=names, columns=names)
    figure = figures.agreement_matrix_figure(agreement, shared)
    heat = figure.data[0]
    assert list(heat.x) == names and list(heat.y) == names
    assert [list(row) for row in heat.text] == [["100%<br>n=4", "50%<br>n=2"], ["50%<br>n=2", ""]]
    assert heat.zmin == 0 and heat.zmax == 1
