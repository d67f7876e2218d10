"""The dashboard on multi-label and regression runs (hand-built from the digits run: tests/kind_runs.py): tag chips,
tag toggles and "set value" written through core's review store, the given-vs-predicted scatter, and every page
rendering without a failure (tests/dashboard/test_kind_pages.py: Budget & retrain and the test samples)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from core.run import reviews, schema
from dashboard import formatting, kinds
from tests.dashboard.conftest import open_page, problems
from tests.kind_runs import SCALE, multilabel_run, regression_run

REVIEWER = {"reviewer": "alice"}
PAGES = ("overview", "gradient_space", "outlier_vs_influence", "flagged_review", "budget_retrain", "sample_detail",
         "test_explorer", "team")


@pytest.fixture
def kind_runs(digits_run, tmp_path, monkeypatch):
    root = tmp_path / "runs"
    root.mkdir()
    multilabel_run(digits_run, root / "tags")
    regression_run(digits_run, root / "values")
    monkeypatch.setenv("GRADSIFT_RUNS_DIR", str(root))
    return root


def _rows(run_path) -> list[tuple]:
    with sqlite3.connect(run_path / reviews.REVIEWS) as connection:
        return connection.execute("SELECT sample_id, action, new_label, reviewer FROM reviews "
                                  "ORDER BY review_id").fetchall()


def _samples(run_path) -> pd.DataFrame:
    return pd.read_parquet(run_path / schema.SAMPLES)


def test_tag_changes_and_chips():
    assert formatting.tag_changes([0, 2], [2, 3]) == [(0, "removed"), (2, "kept"), (3, "added")]
    chips = formatting.tag_chips([0, 2], [2, 3], ["cat", "dog", "car", "tree"])
    assert chips == ":red-background[~~cat~~] :gray-background[car] :green-background[+tree]"
    assert formatting.tag_chips([], None, ["a"]) == ":gray-background[(no tag)]"
    assert kinds.toggled((1, 3), 3) == (1,) and kinds.toggled((1,), 0) == (0, 1)
    assert kinds.accept_tags([2, 0], (0, 2)) == (reviews.KEEP, None)
    assert kinds.accept_tags([0], [0, 5]) == (reviews.RELABEL, (0, 5))
    assert kinds.accept_value(2.5, 2.5) == (reviews.KEEP, None) and kinds.accept_value(2.5, 3) == (reviews.RELABEL, 3.0)


@pytest.mark.parametrize("run_name", ["tags", "values"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(kind_runs, run_name, page):
    app = open_page(kind_runs / run_name, page, **REVIEWER)
    assert not problems(app), problems(app)
    assert app.title[0].value


def test_tag_cards_show_chips_and_save_a_toggled_set(kind_runs):
    run_path = kind_runs / "tags"
    app = open_page(run_path, "flagged_review", **REVIEWER)
    samples = _samples(run_path)
    flagged = samples[samples[schema.IS_FLAGGED]]
    first = int(app.button(key=next(b.key for b in app.button if b.key.startswith("kind_accept_"))).key
                .rsplit("_", 1)[1])
    given = [int(t) for t in samples[schema.GIVEN_TAGS].iloc[first]]
    suggested = [int(t) for t in samples[schema.SUGGESTED_TAGS].iloc[first]]
    chips = [md.value for md in app.markdown if md.value.startswith("suggested: ")]
    assert len(chips) == min(24, len(flagged))
    assert any(":green-background[+" in chip or ":red-background[~~" in chip for chip in chips)
    app.button(key=f"kind_accept_{first}").click().run()
    assert not problems(app)
    expected = "keep" if sorted(given) == sorted(suggested) else "relabel"
    assert _rows(run_path)[-1][:2] == (first, expected)
    # Edit tags: add tag 9 to the given set of another card, then save.
    second = int(next(b.key for b in app.button if b.key.startswith("kind_save_")
                      and int(b.key.rsplit("_", 1)[1]) != first).rsplit("_", 1)[1])
    given = sorted(int(t) for t in samples[schema.GIVEN_TAGS].iloc[second])
    target = sorted(set(given) ^ {9})
    app.button_group(key=f"kind_tags_{second}").set_value(target).run()
    app.button(key=f"kind_save_{second}").click().run()
    assert not problems(app)
    assert _rows(run_path)[-1] == (second, "relabel", str(target).replace(" ", "").replace(",", ", "), "alice")
    assert reviews.ReviewStore(run_path).edits().relabelled[second] == tuple(target)


def test_tag_queue_toggles_with_keys_and_saves(kind_runs):
    run_path = kind_runs / "tags"
    app = open_page(run_path, "flagged_review", **REVIEWER)
    app.button_group(key="review_mode").set_value(kinds.QUEUE).run()
    assert not problems(app)
    heading = next(md.value for md in app.markdown if md.value.startswith("#### #"))
    sample_id = int(heading.removeprefix("#### #").split(" ")[0])
    draft = f"queue_draft_{sample_id}"
    given = tuple(sorted(int(t) for t in _samples(run_path)[schema.GIVEN_TAGS].iloc[sample_id]))
    toggle = 0 if 0 not in given else 1
    app.button(key=f"queue_toggle_{toggle}").click().run()
    assert app.session_state[draft] == tuple(sorted(set(given) ^ {toggle}))
    app.button(key="queue_save").click().run()
    assert not problems(app)
    assert reviews.ReviewStore(run_path).edits().relabelled == {sample_id: tuple(sorted(set(given) ^ {toggle}))}


def test_values_show_the_residual_scatter_and_set_a_value(kind_runs):
    run_path = kind_runs / "values"
    app = open_page(run_path, "flagged_review", **REVIEWER)
    assert not problems(app)
    samples = _samples(run_path)
    specs = [chart.proto.spec for chart in app.get("plotly_chart")]
    assert any("predicted = given" in spec and "given value" in spec for spec in specs)  # the scatter, not a matrix
    residuals = [md.value for md in app.markdown if "residual" in md.value]
    assert residuals
    sample_id = int(next(n.key for n in app.number_input if n.key.startswith("kind_value_")).rsplit("_", 1)[1])
    app.number_input(key=f"kind_value_{sample_id}").set_value(42.5).run()
    app.button(key=f"kind_set_{sample_id}").click().run()
    assert not problems(app)
    assert _rows(run_path)[-1] == (sample_id, "relabel", 42.5, "alice")
    assert reviews.ReviewStore(run_path).edits().relabelled == {sample_id: 42.5}
    residual = float(samples[schema.RESIDUAL_VALUE].iloc[sample_id])
    assert any(f"residual {residual:+.4g}" in md for md in residuals)


def test_value_queue_sets_the_typed_value(kind_runs):
    run_path = kind_runs / "values"
    app = open_page(run_path, "flagged_review", **REVIEWER)
    app.button_group(key="review_mode").set_value(kinds.QUEUE).run()
    key = next(n.key for n in app.number_input if n.key.startswith("queue_value_"))
    sample_id = int(key.rsplit("_", 1)[1])
    app.number_input(key=key).set_value(7.25).run()
    app.button(key="queue_save").click().run()
    assert not problems(app)
    assert reviews.ReviewStore(run_path).edits().relabelled == {sample_id: 7.25}


def test_open_tag_disagreements_show_the_consensus_and_accept_it(kind_runs):
    run_path = kind_runs / "tags"
    store = reviews.ReviewStore(run_path)
    store.record([6], reviews.RELABEL, "ann", new_label=[1, 2])
    store.record([6], reviews.RELABEL, "bob", new_label=[1, 3])
    store.record([6], reviews.RELABEL, "cid", new_label=[1, 2, 3])
    app = open_page(run_path, "flagged_review", **REVIEWER)
    assert not problems(app)
    table = next(frame.value for frame in app.dataframe if "consensus" in frame.value.columns)
    # Tag shares: 1 -> 3/3, 2 -> 2/3, 3 -> 2/3: the consensus is {1, 2, 3}.
    assert table["sample"].tolist() == [6] and table["consensus"].tolist() == ["1, 2, 3"]
    app.button(key="kind_accept_consensus").click().run()
    assert not problems(app)
    assert store.open_disagreements().tolist() == [] and store.edits().relabelled == {6: (1, 2, 3)}


def test_sample_detail_of_a_value_run_sets_a_value_and_shows_neighbours(kind_runs):
    run_path = kind_runs / "values"
    app = open_page(run_path, "sample_detail", detail_sample=3, **REVIEWER)
    assert not problems(app)
    given = float(_samples(run_path)[schema.GIVEN_VALUE].iloc[3])
    assert any(f"given **{given:.6g}**" in md.value for md in app.markdown)
    assert any(md.value.startswith("#### 12 nearest neighbours") for md in app.markdown)
    app.number_input(key="detail_value_3").set_value(-1.5).run()
    app.button(key="detail_set_3").click().run()
    assert not problems(app)
    assert reviews.ReviewStore(run_path).edits().relabelled == {3: -1.5}
    history = next(frame.value for frame in app.dataframe if "new_label" in frame.value.columns)
    assert history["new_label"].tolist() == ["-1.5"] and history["reviewer"].tolist() == ["alice"]


def test_team_page_of_a_tag_run_shows_alpha_and_pairwise_agreement(kind_runs):
    run_path = kind_runs / "tags"
    store = reviews.ReviewStore(run_path)
    store.record([0, 1], reviews.RELABEL, "ann", new_label=[2])
    store.record([0], reviews.RELABEL, "bob", new_label=[2])
    store.record([1], reviews.RELABEL, "bob", new_label=[2, 3])
    app = open_page(run_path, "team", **REVIEWER)
    assert not problems(app)
    assert any(metric.label == "Krippendorff's alpha" for metric in app.metric)
    disagreements = next(frame.value for frame in app.dataframe if "votes" in frame.value.columns)
    assert disagreements["sample"].tolist() == [1]
    assert disagreements["votes"].tolist() == ["ann: relabel to 2 · bob: relabel to 2, 3"]


@pytest.mark.parametrize("run_name", ["tags", "values"])
def test_gradient_space_selection_shows_the_kind_cards(kind_runs, run_name):
    selection = {"selection": {"points": [{"customdata": [5, 0]}, {"customdata": [9, 1]}]}}
    app = open_page(kind_runs / run_name, "gradient_space", gradient_map=selection)
    assert not problems(app)
    assert any(md.value == "#### 2 selected sample(s)" for md in app.markdown)
    prefix = "given: " if run_name == "tags" else ":red[given **"
    assert sum(md.value.startswith(prefix) for md in app.markdown) == 2
    if run_name == "values":
        assert "residual (predicted − given)" in app.selectbox(key="map_colour").options


@pytest.fixture
def kind_team(kind_runs, monkeypatch):
    """The tag and value runs with two annotators' and a lead's local accounts (as tests/dashboard/test_team.py signs
    in)."""
    from core.auth import users
    from dashboard import auth
    from tests.dashboard.test_team import PASSWORD

    for name in ("GRADSIFT_USERS_FILE", "GRADSIFT_SESSION_SECRET_FILE", "GRADSIFT_SESSION_SECRET",
                 "GRADSIFT_READ_ONLY", "GRADSIFT_SESSION_HOURS"):
        monkeypatch.delenv(name, raising=False)
    for name, role in (("ana", "annotator"), ("ben", "annotator"), ("lea", "lead")):
        users.add_user(kind_runs / "users.toml", name, role, PASSWORD)
    auth._throttle.clear()
    return kind_runs


def _left(app) -> int:
    caption = app.caption[0].value
    assert caption.startswith("**Your decisions: "), caption
    return int(caption.split("left in your queue: ")[1].split(" ")[0].replace(",", ""))


def test_an_annotator_of_a_tag_run_gets_its_leased_queue_with_tag_toggles(kind_team):
    from core.auth.roles import Actor
    from tests.dashboard.test_team import card_sample, signed_in

    run_path = kind_team / "tags"
    store = reviews.ReviewStore(run_path)
    ana = signed_in(run_path, "ana")
    assert not problems(ana), problems(ana)
    assert not ana.slider and not ana.metric and not ana.get("plotly_chart")  # the lead's analysis stays hidden
    assert "toggle a tag" in ana.caption[0].value
    first = card_sample(ana)
    assert store.leases() == {first: ["ana"]}
    ben = signed_in(run_path, "ben")  # overlap 1: ana's leased sample is not ben's
    assert card_sample(ben) != first
    given = formatting.as_tags(_samples(run_path)[schema.GIVEN_TAGS].iloc[first])
    ana.button(key="queue_toggle_0").click().run()
    ana.button(key="queue_save").click().run()
    assert not problems(ana), problems(ana)
    expected = kinds.toggled(given, 0)
    assert _rows(run_path) == [(first, reviews.RELABEL, json_tags(expected), "ana")]
    assert card_sample(ana) not in (first, card_sample(ben))  # the queue advanced past both leases
    left = _left(ana)
    unflagged = int(_samples(run_path)[schema.SAMPLE_ID].iloc[-1])  # the last sample: not flagged in this run
    store.mark_gold([unflagged], [[1]], Actor("lea", "lead"))  # a gold tag set joins every annotator's queue
    ana.run()
    assert _left(ana) == left + 1


@pytest.mark.parametrize(("run_name", "label", "expected"), [("tags", [3, 1], (1, 3)), ("values", 2.5, 2.5)])
def test_a_lead_marks_a_gold_tag_set_or_value(kind_team, run_name, label, expected):
    from tests.dashboard.test_team import signed_in

    run_path = kind_team / run_name
    lea = signed_in(run_path, "lea")
    assert not problems(lea), problems(lea)
    lea.number_input(key="team_gold_id").set_value(7)
    if run_name == "tags":
        lea.multiselect(key="team_gold_label").set_value(label)
    else:
        lea.number_input(key="team_gold_label").set_value(label)
    lea.button(key="team_gold").click().run()
    assert not problems(lea), problems(lea)
    assert reviews.ReviewStore(run_path).gold() == {7: expected}


def json_tags(tags) -> str:
    return "[" + ", ".join(str(t) for t in tags) + "]"


def test_an_annotator_of_a_value_run_sets_a_value_from_its_queue(kind_team):
    from tests.dashboard.test_team import card_sample, signed_in

    run_path = kind_team / "values"
    ana = signed_in(run_path, "ana")
    assert not problems(ana), problems(ana)
    assert "S set the value" in ana.caption[0].value
    first = card_sample(ana)
    ana.number_input(key=f"queue_value_{first}").set_value(123.25)
    ana.button(key="queue_save").click().run()
    assert not problems(ana), problems(ana)
    assert _rows(run_path) == [(first, reviews.RELABEL, 123.25, "ana")]
    assert card_sample(ana) != first  # its queue moved on


def test_overview_names_the_task_and_its_metric(kind_runs):
    import json

    run_path = kind_runs / "values"
    manifest = json.loads((run_path / schema.MANIFEST).read_text())
    manifest["model"]["test_rmse"] = 1.25
    (run_path / schema.MANIFEST).write_text(json.dumps(manifest))
    app = open_page(run_path, "overview")
    assert not problems(app)
    assert {m.label: m.value for m in app.metric}["test RMSE"] == "1.2500"
    assert any(caption.value.startswith("1 target (regression) · ") for caption in app.caption)


def _with_test_predictions(run_path, run_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Rewrite the copied classification run's test split in the kind's form: tags {test class} and the softmax as
    sigmoids; values test class × SCALE and predicted argmax × SCALE. Returns (test labels, predictions)."""
    classes = np.load(run_path / schema.TEST_LABELS).astype(np.int64)
    outputs = dict(np.load(run_path / schema.ERM_OUTPUTS))
    probs = outputs["test_probs"]
    if run_name == "tags":
        labels = np.eye(probs.shape[1], dtype=np.uint8)[classes]
        preds = probs
    else:
        labels = classes * SCALE
        preds = (probs.argmax(axis=1) * SCALE).reshape(-1, 1)
    np.save(run_path / schema.TEST_LABELS, labels)
    np.savez(run_path / schema.ERM_OUTPUTS, **{**outputs, "test_probs": preds})
    return labels, preds


@pytest.mark.parametrize("run_name", ["tags", "values"])
def test_the_test_samples_are_reviewed_as_tag_sets_or_values(kind_runs, run_name):
    from dashboard import kind_views

    run_path = kind_runs / run_name
    labels, preds = _with_test_predictions(run_path, run_name)
    app = open_page(run_path, "flagged_review", **REVIEWER)
    app.button_group(key="review_split").set_value(kind_views.TEST_VIEW).run()
    assert not problems(app), problems(app)
    prefix = "test label: " if run_name == "tags" else ":red[test value **"
    cards = [md.value for md in app.markdown if md.value.startswith(prefix)]
    assert len(cards) == min(kind_views.PER_PAGE, len(labels))
    first = int(next(b.key for b in app.button if b.key.startswith("kind_test_accept_")).rsplit("_", 1)[1])
    if run_name == "tags":  # the worst first: the most tags off between the test label and the prediction
        off = [len(set(np.flatnonzero(t)) ^ set(np.flatnonzero(p >= 0.5))) for t, p in zip(labels, preds)]
        assert off[first] == max(off)
        app.button(key=f"kind_test_accept_{first}").click().run()
        expected = (reviews.KEEP, None) if off[first] == 0 else (
            reviews.RELABEL, tuple(np.flatnonzero(preds[first] >= 0.5).tolist()))
    else:
        residual = np.abs(preds[:, 0] - labels)
        assert residual[first] == residual.max()
        app.number_input(key=f"kind_test_value_{first}").set_value(4.75)
        app.button(key=f"kind_test_set_{first}").click().run()
        expected = (reviews.RELABEL, 4.75)
    assert not problems(app), problems(app)
    decisions = reviews.ReviewStore(run_path, split="test").decisions()
    assert decisions[schema.SAMPLE_ID].tolist() == [first]
    assert (decisions["action"].iloc[0], decisions["new_label"].iloc[0]) == expected
    assert not reviews.ReviewStore(run_path).count()  # nothing written to the training store
