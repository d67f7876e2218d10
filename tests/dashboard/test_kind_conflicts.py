"""Near-duplicate conflicts on multi-label and regression runs (hand-built from the digits run, with planted exact
near-duplicates: tests/review/test_conflict_kinds.py): the search runs as a job from the Flagged review page, the
pairs show as tag chips or values, and the cards' reviews reach the store as tag-set or value relabels."""

from __future__ import annotations

from core.run import reviews, schema
from core.run.rundir import RunDir
from tests.dashboard.conftest import open_page, problems
from tests.dashboard.test_actions import wait_for_jobs
from tests.dashboard.test_kinds import REVIEWER, kind_runs  # noqa: F401 (the fixture)
from tests.review.test_conflict_kinds import PLANTED_CONFLICT, pair_set, plant


def search(run_path):
    app = open_page(run_path, "flagged_review", **REVIEWER)
    app.segmented_control(key="review_split").set_value("near-duplicate conflicts").run()
    assert not problems(app)
    assert any("No search yet" in i.value for i in app.info)
    next(b for b in app.button if b.label == "Find conflicting near-duplicates").click().run()
    (job,) = wait_for_jobs(app, "conflict_jobs")
    assert job.status == "done", job.error
    app.run()
    assert not problems(app)
    pairs = RunDir(run_path).read_parquet(schema.CONFLICTS)
    assert PLANTED_CONFLICT in pair_set(pairs)
    shown = [c.value for c in app.caption if c.value.startswith("distance ")]
    assert len(shown) == min(8, len(pairs)) and shown[0] == f"distance {pairs.distance.iloc[0]:.3g}"
    return app, pairs


def test_tag_pairs_show_chips_and_accept_a_tag_set(kind_runs):  # noqa: F811
    run_path = kind_runs / "tags"
    plant(RunDir(run_path), schema.GIVEN_TAGS, {0: [1, 4], 1: [1], 2: [3, 5], 3: [3, 5]})
    app, pairs = search(run_path)
    assert any(c.value.startswith(f"{len(pairs):,} pair(s) with different given tag sets") for c in app.caption)
    assert sum(md.value.startswith("given: ") for md in app.markdown) == 2 * min(8, len(pairs))
    first = int(pairs.sample_a.iloc[0])
    app.button(key=f"conflict_0_accept_{first}").click().run()
    assert not problems(app)
    suggested = RunDir(run_path).read_samples()[schema.SUGGESTED_TAGS].iloc[first]
    given = RunDir(run_path).read_samples()[schema.GIVEN_TAGS].iloc[first]
    edits = reviews.ReviewStore(run_path).edits()
    if sorted(suggested) == sorted(given):
        assert first not in edits.relabelled
    else:
        assert edits.relabelled[first] == tuple(sorted(int(t) for t in suggested))


def test_value_pairs_show_values_and_set_a_value(kind_runs):  # noqa: F811
    run_path = kind_runs / "values"
    plant(RunDir(run_path), schema.GIVEN_VALUE, {0: 3.0, 1: 3.5, 2: 3.0, 3: 3.15})
    app, pairs = search(run_path)
    assert any(c.value.startswith(f"{len(pairs):,} pair(s) with given values more than 0.2 apart")
               for c in app.caption)
    first = int(pairs.sample_b.iloc[0])
    app.number_input(key=f"conflict_0_value_{first}").set_value(-2.5).run()
    app.button(key=f"conflict_0_set_{first}").click().run()
    assert not problems(app)
    assert reviews.ReviewStore(run_path).edits().relabelled == {first: -2.5}
