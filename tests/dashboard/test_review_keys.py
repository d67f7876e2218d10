"""Keyboard-first review, the suggested label on the cards, the given × suggested heat map, and the suggested
budget on the budget sliders (AppTest; the real-browser keys are in test_browser.py)."""

from __future__ import annotations

import numpy as np

from core.estimate.noise_rate import precision_recall
from core.run import reviews, schema
from core.run.rundir import RunDir
from dashboard import queue
from tests.dashboard.conftest import open_page, problems
from tests.dashboard.test_actions import REVIEWER, review_rows


def queue_page(run_path):
    app = open_page(run_path, "flagged_review", **REVIEWER)
    app.button_group(key="review_mode").set_value("queue (keyboard)").run()
    assert not problems(app)
    return app


def current_id(app) -> int:
    heading = next(m.value for m in app.markdown if m.value.startswith("#### #"))
    return int(heading.split("#")[-1].split()[0])


def test_every_queue_action_has_its_key(writable_runs):
    app = queue_page(writable_runs / "digits")
    keys = {button.key: button.proto.shortcut.upper() for button in app.button if button.key.startswith("queue_")}
    assert keys["queue_mislabeled"] == "M" and keys["queue_keep"] == "K" and keys["queue_accept"] == "A"
    assert keys["queue_next"] == "N" and keys["queue_undo"] == "U"
    assert [keys[f"queue_relabel_{label}"] for label in range(9)] == list("123456789")
    assert "queue_relabel_9" not in keys and keys["queue_relabel_picked"] == ""  # class 10: the picker


def test_the_queue_advances_decides_skips_and_undoes(writable_runs):
    run_path = writable_runs / "digits"
    samples = RunDir(run_path).read_samples().set_index(schema.SAMPLE_ID)
    app = queue_page(run_path)
    order = []
    for key in ("queue_mislabeled", "queue_accept", "queue_relabel_2"):
        order.append(current_id(app))
        app.button(key=key).click().run()
        assert current_id(app) != order[-1]  # the queue moved on
    first, second, third = order
    expected_accept = samples.loc[second, schema.SUGGESTED_LABEL]
    accepted = ((second, "keep", None, "alice") if expected_accept == samples.loc[second, schema.GIVEN_LABEL]
                else (second, "relabel", int(expected_accept), "alice"))
    assert review_rows(run_path) == [(first, "mislabeled", None, "alice"), accepted, (third, "relabel", 2, "alice")]
    skipped = current_id(app)
    app.button(key="queue_next").click().run()
    assert current_id(app) != skipped and len(review_rows(run_path)) == 3  # a skip records nothing
    app.button(key="queue_undo").click().run()
    assert current_id(app) == third  # the undone sample is unreviewed again and comes back first
    history = reviews.ReviewStore(run_path).history()
    assert len(history) == 4 and int(history[reviews.UNDOES].iloc[-1]) == int(history[reviews.REVIEW_ID].iloc[2])
    app.selectbox(key="queue_pick").select(9).run()
    app.button(key="queue_relabel_picked").click().run()
    assert review_rows(run_path)[-1] == (third, "relabel", 9, "alice")
    assert not problems(app)


def test_the_queue_on_a_tabular_run(writable_runs):
    app = queue_page(writable_runs / "moons")
    assert len(app.get("image")) == 0 and app.get("metric")
    app.button(key="queue_keep").click().run()
    assert [row[1] for row in review_rows(writable_runs / "moons")] == ["keep"]


def test_a_card_accepts_its_suggestion_in_one_click(writable_runs):
    run_path = writable_runs / "digits"
    app = open_page(run_path, "flagged_review", **REVIEWER)
    button = next(b for b in app.button if b.key.startswith("review_accept_"))
    sample_id = int(button.key.rsplit("_", 1)[1])
    row = RunDir(run_path).read_samples().set_index(schema.SAMPLE_ID).loc[sample_id]
    assert button.label.startswith("Accept")
    button.click().run()
    action, label = queue.widgets.accept_action({schema.SUGGESTED_LABEL: row[schema.SUGGESTED_LABEL],
                                                 schema.GIVEN_LABEL: row[schema.GIVEN_LABEL]})
    assert review_rows(run_path) == [(sample_id, action, label, "alice")]
    assert any("suggests" in caption.value or "agrees" in caption.value for caption in app.caption)


def test_a_heat_map_cell_opens_its_samples(app_env):
    run_path = app_env / "digits"
    samples = RunDir(run_path).read_samples()
    flagged = samples[samples[schema.IS_FLAGGED]]
    pairs = flagged.groupby([schema.GIVEN_LABEL, schema.SUGGESTED_LABEL]).size()
    pairs = pairs[[g != s for g, s in pairs.index]].sort_values(ascending=False)
    (given, suggested), count = pairs.index[0], int(pairs.iloc[0])
    # A browser sends the cell's customdata as a dict keyed "0", "1", ... (AppTest cannot click a chart).
    event = {"selection": {"points": [{"customdata": {"0": given, "1": suggested, "2": count}}]}}
    app = open_page(run_path, "flagged_review", pair_matrix_0=event, **REVIEWER)
    assert not problems(app)
    shown = [int(menu.key.rsplit("_", 1)[1]) for menu in app.menu_button]
    assert len(shown) == min(count, 24)
    assert set(samples.loc[shown, schema.GIVEN_LABEL]) == {given}
    assert set(samples.loc[shown, schema.SUGGESTED_LABEL]) == {suggested}
    assert any(f": {count}." in info.value for info in app.info)
    app.button(key="pair_clear").click().run()
    assert len(app.menu_button) == 24 and not problems(app)


def test_the_budget_sliders_mark_the_suggested_budget(app_env):
    run_path = app_env / "digits"
    suggested = RunDir(run_path).read_manifest()["suggested_budget"]
    app = open_page(run_path, "budget_retrain")
    assert not problems(app)
    caption = next(c.value for c in app.caption if c.value.startswith("Suggested budget"))
    assert f"{suggested['value']:.1%}" in caption and "estimated precision" in caption
    assert any(chart.key == "budget_curve" for chart in app.get("plotly_chart"))
    samples = RunDir(run_path).read_samples()
    precision, recall = precision_recall(samples[schema.NOISE_PROBABILITY].to_numpy(),
                                         samples[schema.score_column("l2")].to_numpy(), 0.05)
    assert f"precision **{precision:.0%}** and recall **{recall:.0%}**" in caption  # at the run's 5%
    app.button(key="retrain_budget_use_suggested").click().run()
    assert app.slider(key="retrain_budget").value == round(suggested["value"] * 200) / 2

    review = open_page(run_path, "flagged_review", **REVIEWER)
    review.slider(key="review_budget").set_value(10.0).run()
    flagged = sum(int(m.value.replace(",", "")) for m in review.metric if m.label == "flagged")
    assert flagged == int(np.floor(0.10 * len(RunDir(run_path).read_samples()) + 0.5))
    assert any("Suggested budget" in c.value for c in review.caption)


def test_the_grid_undoes_a_bulk_action_whole(writable_runs):
    run_path = writable_runs / "digits"
    app = open_page(run_path, "flagged_review", **REVIEWER)
    app.radio(key="bulk_scope").set_value("this page")
    app.selectbox(key="bulk_action").select(reviews.KEEP)
    app.button(key="bulk_apply").click().run()
    assert reviews.ReviewStore(run_path).decisions()[reviews.ACTION].tolist() == ["keep"] * 24
    undo = app.button(key="queue_undo")
    assert undo.proto.shortcut.upper() == "U" and "(+23)" in undo.label
    undo.click().run()
    assert reviews.ReviewStore(run_path).decisions().empty and len(review_rows(run_path)) == 48
    assert app.button(key="queue_undo").disabled and not problems(app)
