"""Team review in AppTest: the annotator's queue (card first, its own leased samples, blind), the lead's adjudication
view, the Team page, and a viewer who cannot write. Actors sign in with local accounts (as in test_sign_in.py)."""

from __future__ import annotations

import re

import pytest

from core.auth import users
from core.auth.roles import Actor, PermissionDenied
from core.review import consensus
from core.run import schema
from core.run.reviews import ADJUDICATION, KEEP, KIND, MISLABELED, RELABEL, REVIEWER, ReviewStore
from tests.dashboard.conftest import APP, problems

PASSWORD = "correct-horse-battery"
ROLES = {"ana": "annotator", "ben": "annotator", "lea": "lead", "vic": "viewer"}
LEAD = Actor("lea", "lead")


@pytest.fixture
def team(writable_runs, monkeypatch):
    """The writable runs with four local accounts; returns the digits run's path."""
    from dashboard import auth

    for name in ("GRADSIFT_USERS_FILE", "GRADSIFT_SESSION_SECRET_FILE", "GRADSIFT_SESSION_SECRET",
                 "GRADSIFT_READ_ONLY", "GRADSIFT_SESSION_HOURS"):
        monkeypatch.delenv(name, raising=False)
    for name, role in ROLES.items():
        users.add_user(writable_runs / "users.toml", name, role, PASSWORD)
    auth._throttle.clear()
    return writable_runs / "digits"


def signed_in(run_path, name: str, page: str = "flagged_review"):
    """An AppTest of `page` for `run_path`, signed in as `name`."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(APP), default_timeout=120)
    app.session_state["run_path"] = str(run_path)
    app.run()
    app.text_input(key="sign_in_name").input(name)
    app.text_input(key="sign_in_password").input(PASSWORD)
    app.button(key="FormSubmitter:sign_in-Sign in").click().run()
    assert app.session_state["auth_actor"] == Actor(name, ROLES[name])
    app.switch_page(f"pages/{page}.py")
    return app.run()


def card_sample(app) -> int:
    """The sample id of the card shown (its '#### #id · … score' heading)."""
    found = [int(m.group(1)) for md in app.markdown if (m := re.match(r"#### #(\d+) ", md.value))]
    assert len(found) == 1, [md.value for md in app.markdown]
    return found[0]


def texts(app) -> str:
    return "\n".join([md.value for md in app.markdown] + [caption.value for caption in app.caption]
                     + [str(button.label) for button in app.button] + [box.value for box in app.success]
                     + [box.value for box in app.info])


def store(run_path) -> ReviewStore:
    return ReviewStore(run_path)


def test_an_annotator_sees_its_card_first_and_only_its_queue(team):
    ana = signed_in(team, "ana")
    assert not problems(ana)
    # nothing of the lead's analysis: no budget slider, filters, counters, re-rank box, mode switch, heat map
    assert not ana.slider and not ana.metric and not ana.multiselect and not ana.get("plotly_chart")
    assert [control.label for control in ana.button_group] == []
    assert ana.caption[0].value.startswith("**Your decisions: 0** · left in your queue:")
    keys = {button.key for button in ana.button}
    assert {"queue_mislabeled", "queue_keep", "queue_accept", "queue_relabel_0", "queue_undo"} <= keys
    first = card_sample(ana)

    ben = signed_in(team, "ben")  # overlap 1: ana's leased sample is not ben's
    second = card_sample(ben)
    assert second != first
    leases = store(team).leases()
    assert leases[first] == ["ana"] and leases[second] == ["ben"]

    ana.button(key="queue_mislabeled").click().run()
    votes = store(team).resolution().votes
    assert votes[[schema.SAMPLE_ID, REVIEWER]].values.tolist() == [[first, "ana"]]
    assert ana.caption[0].value.startswith("**Your decisions: 1**")
    following = card_sample(ana)
    assert following not in (first, second)


def test_an_annotator_does_not_see_the_other_annotators_vote(team):
    store(team).set_overlap(2, LEAD)
    ana = signed_in(team, "ana")
    sample = card_sample(ana)
    store(team).record([sample], KEEP, Actor("ben", "annotator"))
    ana.run()
    assert card_sample(ana) == sample  # ben's vote leaves it in ana's queue (overlap 2)
    assert "ben" not in texts(ana) and "Kept" not in texts(ana)
    assert len(consensus.votes_visible_to(store(team), "ana")) == 0


def test_the_lead_sees_a_disagreement_with_both_votes_and_resolves_it(team):
    reviews = store(team)
    reviews.set_overlap(2, LEAD)
    given = reviews.given_labels()
    sample = 5
    target = (int(given[sample]) + 1) % 10
    reviews.record([sample], RELABEL, Actor("ana", "annotator"), new_label=target)
    reviews.record([sample], MISLABELED, Actor("ben", "annotator"))
    assert reviews.open_disagreements().tolist() == [sample]

    lea = signed_in(team, "lea")
    lea.button_group(key="review_split").set_value("adjudication (team)").run()
    assert not problems(lea)
    shown = texts(lea)
    assert f"**#{sample}** · votes disagree" in shown
    assert f"**ana**: relabel to **{target}**" in shown and "**ben**: remove (mislabeled)" in shown
    assert "model suggests" in shown and "CROWDLAB" in shown
    lea.button(key=f"adj_keep_{sample}").click().run()
    assert store(team).open_disagreements().tolist() == []
    decisions = store(team).decisions()
    assert decisions[decisions[schema.SAMPLE_ID] == sample]["action"].tolist() == [KEEP]
    last = store(team).history().iloc[-1]
    assert last[REVIEWER] == "lea" and last[KIND] == ADJUDICATION
    assert "Nothing to adjudicate" in texts(lea)


def test_the_lead_sets_overlap_and_gold(team):
    lea = signed_in(team, "lea")
    lea.button_group(key="review_split").set_value("adjudication (team)").run()
    lea.number_input(key="team_overlap").set_value(3)
    lea.number_input(key="team_lease").set_value(5)
    lea.button(key="team_save").click().run()
    assert store(team).overlap() == 3 and store(team).lease_seconds() == 300.0
    lea.number_input(key="team_gold_id").set_value(7)
    lea.selectbox(key="team_gold_label").set_value(4)
    lea.button(key="team_gold").click().run()
    assert store(team).gold() == {7: 4}


def test_the_team_page_shows_the_team_summary(team):
    reviews = store(team)
    reviews.set_overlap(2, LEAD)
    ana, ben = Actor("ana", "annotator"), Actor("ben", "annotator")
    reviews.record([1, 2], KEEP, ana)
    reviews.record([1], KEEP, ben)       # agrees with ana
    reviews.record([2], MISLABELED, ben)  # disagrees: open
    lea = signed_in(team, "lea", "team")
    assert not problems(lea) and [title.value for title in lea.title] == ["Team"]
    table = lea.dataframe[0].value  # the annotators; [1]: the open disagreements
    assert table["annotator"].tolist() == ["ana", "ben"]
    assert table["decided"].tolist() == [2, 1 + 1]
    summary = consensus.team_summary(store(team))
    for row, expected in zip(table.to_dict("records"), summary["annotators"]):
        assert row["decided"] == expected["decided"]
        assert row["agreement with consensus"] == pytest.approx(expected["agreement_with_consensus"], nan_ok=True)
    open_votes = lea.dataframe[1].value
    assert open_votes["sample"].tolist() == [2]
    assert open_votes["votes"].tolist() == ["ana: keep · ben: remove (mislabeled)"]
    metrics = {metric.label: metric.value for metric in lea.metric}
    assert metrics["open disagreements"] == "1" and metrics["overlap"] == "2"

    ana_page = signed_in(team, "ana", "team")  # blind review: no votes of open samples for annotators
    assert len(ana_page.dataframe) == 1  # the annotators' table, not the votes
    assert "hidden from annotators" in texts(ana_page)


def test_a_viewer_has_no_decision_buttons_and_cannot_write(team):
    vic = signed_in(team, "vic")
    assert not problems(vic)
    assert any("Viewing as vic (viewer)" in caption.value for caption in vic.caption)
    labels = [str(button.label) for button in vic.button]
    assert not [label for label in labels if label in ("Apply", "Accept", "Undo", "Confirm mislabeled")]
    assert not [button for button in vic.button if str(button.key).startswith(("review_accept_", "queue_"))]
    assert "adjudication (team)" not in vic.button_group(key="review_split").options
    vic.button_group(key="review_mode").set_value("queue (keyboard)").run()
    assert not [button for button in vic.button if str(button.key).startswith("queue_")]
    viewer = Actor("vic", "viewer")
    with pytest.raises(PermissionDenied):
        store(team).record([0], KEEP, viewer)
    with pytest.raises(PermissionDenied):
        store(team).adjudicate([0], KEEP, Actor("ana", "annotator"))
    with pytest.raises(PermissionDenied):
        store(team).set_overlap(2, viewer)
    assert store(team).count() == 0 and store(team).overlap() == 1
