"""The review loop on the Flagged review page: re-rank with my decisions (a job, never a widget change), the
queue in re-ranked order with the estimate of the errors left; near-duplicate conflicts beside the flagged set."""

from __future__ import annotations

import numpy as np

from core.review.rerank import read_rerank
from core.run import reviews, schema
from core.run.rundir import RunDir
from dashboard import loop
from tests.dashboard.conftest import open_page, problems
from tests.dashboard.test_actions import REVIEWER, wait_for_jobs


def card_ids(app) -> list[int]:
    return [int(menu.key.rsplit("_", 1)[1]) for menu in app.menu_button if menu.key.startswith("review_menu_")]


def test_rerank_button_reorders_the_queue(writable_runs):
    run_path = writable_runs / "digits"
    store = reviews.ReviewStore(run_path)
    store.record([0, 1, 2], reviews.KEEP, "alice")
    store.record([3], reviews.RELABEL, "alice", new_label=5)
    app = open_page(run_path, "flagged_review", **REVIEWER)
    assert not problems(app)
    assert app.segmented_control(key=loop.ORDER_KEY).disabled, "nothing to order by before a re-ranking"
    app.segmented_control(key="review_status").set_value("unreviewed").run()
    app.selectbox(key="review_detector").select("iforest").run()
    assert read_rerank(run_path) is None, "widget changes never re-rank"

    app.button(key="rerank_start").click().run()
    (job,) = wait_for_jobs(app, loop.RERANK_JOBS)
    assert job.status == "done", job.error
    app.run()
    assert not problems(app)
    result = read_rerank(run_path)
    assert result.facts["n_decisions"] == 4
    estimate = next(m.value for m in app.markdown if "wrong labels left" in m.value)
    assert f"{result.facts['remaining']['estimate']:.0f}" in estimate and "from 4 decision(s)" in estimate
    assert any("Known truth (measurement only)" in c.value for c in app.caption)

    app.segmented_control(key=loop.ORDER_KEY).set_value(loop.RERANKED).run()
    assert not problems(app)
    assert card_ids(app) == result.queue[:24].tolist(), "the page shows the re-ranked queue, best first"

    store.record([card_ids(app)[0]], reviews.KEEP, "alice")
    app.run()
    assert card_ids(app) == result.queue[1:25].tolist(), "a decided sample leaves the queue"
    assert any("decisions changed since (5 now)" in m.value for m in app.markdown)


def test_rerank_on_a_run_without_truth_hides_the_truth(writable_runs):
    app = open_page(writable_runs / "nolabels", "flagged_review", **REVIEWER)
    app.button(key="rerank_start").click().run()
    (job,) = wait_for_jobs(app, loop.RERANK_JOBS)
    assert job.status == "done", job.error
    app.run()
    assert not problems(app)
    assert any("wrong labels left" in m.value for m in app.markdown)
    assert not any("Known truth" in c.value for c in app.caption)


def find_pairs(app) -> None:
    next(b for b in app.button if b.label == "Find conflicting near-duplicates").click().run()
    (job,) = wait_for_jobs(app, "conflict_jobs")
    assert job.status == "done", job.error
    app.run()


def test_conflicts_view_lists_pairs_that_link_to_the_samples(writable_runs):
    run_path = writable_runs / "digits"
    app = open_page(run_path, "flagged_review", **REVIEWER)
    app.segmented_control(key="review_split").set_value("near-duplicate conflicts").run()
    assert not problems(app)
    assert any("No search yet" in i.value for i in app.info)
    find_pairs(app)
    assert not problems(app)
    pairs = RunDir(run_path).read_parquet(schema.CONFLICTS)
    shown = [c.value for c in app.caption if c.value.startswith("distance ")]
    assert len(shown) == min(8, len(pairs)) and shown[0] == f"distance {pairs.distance.iloc[0]:.3g}"
    menus = [m for m in app.menu_button if m.key.startswith("conflict_")]
    assert len(menus) == 2 * len(shown)
    first_a, first_b = int(pairs.sample_a.iloc[0]), int(pairs.sample_b.iloc[0])
    assert {int(menus[0].key.rsplit("_", 1)[1]), int(menus[1].key.rsplit("_", 1)[1])} == {first_a, first_b}
    menus[0].click("Confirm mislabeled").run()
    assert reviews.ReviewStore(run_path).decisions()[schema.SAMPLE_ID].tolist() == [first_a]
    app.button(key=f"conflict_0_detail_{first_b}").click().run()
    assert app.session_state["detail_sample"] == first_b


def test_conflicts_view_on_a_tabular_run(writable_runs):
    app = open_page(writable_runs / "moons", "flagged_review", **REVIEWER)
    app.segmented_control(key="review_split").set_value("near-duplicate conflicts").run()
    find_pairs(app)
    assert not problems(app)
    flagged = RunDir(writable_runs / "moons").read_samples()[schema.IS_FLAGGED].to_numpy()
    app.toggle(key="conflict_only_flagged").set_value(True).run()
    assert not problems(app)
    pairs = RunDir(writable_runs / "moons").read_parquet(schema.CONFLICTS)
    with_flag = int((flagged[pairs.sample_a] | flagged[pairs.sample_b]).sum())
    assert any(c.value.startswith(f"{with_flag:,} pair(s)") for c in app.caption)
    assert np.isin(pairs.given_a, [0, 1]).all()
