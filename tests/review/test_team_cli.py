"""`gradsift reviews RUN --json` and `gradsift info --json`'s consensus block on a digits run reviewed by a team."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from core.cli.main import app
from core.export.source import load_source
from core.run import schema
from core.run.reviews import KEEP, MISLABELED, RELABEL, ReviewStore
from core.run.rundir import RunDir

runner = CliRunner()


def _invoke(*args) -> dict:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_reviews_and_info_report_the_team(loop_run):
    samples = RunDir(loop_run).read_samples()
    given = samples[schema.GIVEN_LABEL].to_numpy()
    flagged = np.flatnonzero(samples[schema.IS_FLAGGED].to_numpy())[:12]
    other = lambda i: int((given[i] + 1) % 10)  # noqa: E731
    store = ReviewStore(loop_run)
    store.set_overlap(2, "lead")
    store.mark_gold([int(flagged[11])], int(given[flagged[11]]), "lead")
    for i in flagged[:10]:
        store.record([int(i)], KEEP, "ann")
        store.record([int(i)], KEEP, "bob")
    for i in flagged[10:11]:  # one disagreement
        store.record([int(i)], RELABEL, "ann", new_label=other(i))
        store.record([int(i)], MISLABELED, "bob")
    store.record([int(flagged[11])], KEEP, "ann")
    store.record([int(flagged[11])], RELABEL, "bob", new_label=other(flagged[11]))
    summary = _invoke("reviews", loop_run, "--json")
    assert set(summary) >= {"annotators", "agreement", "consensus"}
    people = {a["name"]: a for a in summary["annotators"]}
    assert set(people) == {"ann", "bob"} and people["ann"]["decided"] == 12 and people["ann"]["role"] is None
    assert people["ann"]["gold_accuracy"] == 1.0 and people["bob"]["gold_accuracy"] == 0.0
    assert summary["consensus"]["samples_decided"] == 11 and summary["consensus"]["disagreements_open"] == 1
    assert summary["consensus"]["adjudicated"] == 0 and summary["consensus"]["overlap"] == 2
    assert summary["agreement"]["metric"] == "krippendorff_alpha_nominal" and summary["agreement"]["n_samples"] == 12
    assert summary["agreement"]["value"] < 1
    report = _invoke("info", loop_run, "--json")
    assert report["consensus"]["disagreements_open"] == 1 and report["consensus"]["samples_decided"] == 11
    # the open disagreement is left out of the exports' decisions and of the retraining edits
    table = load_source(loop_run).table.set_index(schema.SAMPLE_ID)
    assert table.loc[int(flagged[10]), "review"] == "" and table.loc[int(flagged[0]), "review"] == KEEP
    assert int(flagged[10]) not in store.edits().removed | set(store.edits().relabelled)
    store.adjudicate([int(flagged[10])], MISLABELED, "lead")
    assert int(flagged[10]) in store.edits().removed
    assert _invoke("reviews", loop_run, "--json")["consensus"]["adjudicated"] == 1
    text = runner.invoke(app, ["reviews", str(loop_run)])
    assert text.exit_code == 0 and "0 open disagreement" in text.output and "ann" in text.output
