"""The review page's team views (docs/dashboard.md, "Working as a team").

- `annotator_ui`: what a signed-in annotator sees on the Flagged review page: one line of progress, then the card of
  its next sample with the decision keys, nothing else above it. The sample is handed out by
  core.review.assignment.next_samples (its own queue: overlap, gold samples mixed in, a lease so two annotators do not
  race); the analysis controls (budget, filters, counters, re-ranking, heat map, bulk actions, exports) are the lead's.
  Blind review: the card shows no other reviewer's vote, and the annotator's counts are its own votes
  (core.review.consensus.votes_visible_to). The same queue serves multi-label and regression runs, drawn with
  dashboard.kinds.card_ui (tag toggles, set value).
- `lead_ui`: the lead's adjudication queue (open disagreements, then low-quality consensus), each with every vote,
  the model's suggestion and CROWDLAB's label side by side, and the overlap, lease and gold settings.

Every write passes the signed-in actor to core, which checks the role where it writes (core.auth.roles).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.auth.roles import Actor
from core.errors import GradsiftError
from core.review import assignment, consensus
from core.run import schema
from core.run.reviews import KEEP, MISLABELED, RELABEL
from dashboard import auth, data, formatting, kinds, queue, team_data, widgets

MAX_SHOWN = 20
"""Adjudication cards drawn at once (the rest follow as these are decided)."""
VOTE_WORDS = {MISLABELED: "remove (mislabeled)", KEEP: "keep", RELABEL: "relabel to"}


def vote_text(vote: dict, names: list[str]) -> str:
    """'**ana**: relabel to **3**' for one vote of the adjudication queue (names escaped)."""
    what = VOTE_WORDS.get(vote["action"], vote["action"])
    label = vote["new_label"]
    if vote["action"] == RELABEL and isinstance(label, list):  # a tag set
        what += f" **{formatting.escape_markdown(formatting.tag_text(label, names))}**"
    elif vote["action"] == RELABEL and isinstance(label, float):  # a value
        what += f" **{label:.6g}**"
    elif vote["action"] == RELABEL:
        what += f" **{formatting.escape_markdown(formatting.class_name(names, label))}**"
    return f"**{formatting.escape_markdown(vote['reviewer'])}**: {what}"


def annotator_ui(run_path: str, actor: Actor) -> None:
    """The annotator's queue: a progress line, then its next sample's card and keys."""
    store = data.review_store(run_path)
    ranked = team_data.ranking(run_path)
    skipped = queue.skipped()
    leased = assignment.next_samples(store, ranked, actor.name, count=len(skipped) + 1)
    todo = [i for i in leased if i not in skipped]
    mine = consensus.votes_visible_to(store, actor.name, ranked)
    overall = team_data.progress(run_path)["overall"]
    left = len(assignment.annotator_queue(store, ranked, actor.name))
    task = kinds.task_name(run_path)
    keys = ("M mislabeled · K keep · A accept the suggestion · 1–9 relabel · N next · U undo"
            if task == kinds.CLASSIFICATION else kinds.keys_text(task))
    st.caption(f"**Your decisions: {len(mine):,}** · left in your queue: {left:,} · overall: {overall['complete']:,} "
               f"of {overall['samples']:,} flagged samples complete (overlap {overall['overlap']}) · keys: {keys}")
    if not todo:
        st.success("Your queue is empty: every flagged sample has the votes it needs." if not skipped else
                   f"You skipped the {len(skipped)} sample(s) left in your queue.")
        if skipped and st.button("Review the skipped ones", key="queue_unskip"):
            st.session_state[queue.SKIPPED] = []
            st.rerun()
        queue.undo_ui(run_path, actor.name)
        return
    frame = data.samples(run_path)
    detector = data.flagging(run_path).detector
    record = frame[frame[schema.SAMPLE_ID] == todo[0]].iloc[0].to_dict()
    # truth_known=False: a simulated run's known truth would give the answer away
    if task == kinds.CLASSIFICATION:
        queue.card_ui(run_path, record, data.class_names(run_path), False, actor.name, detector,
                      schema.score_column(detector))
    else:  # tags or values: tag toggles / set value
        kinds.card_ui(run_path, record, data.class_names(run_path), task, False, actor.name, detector,
                      schema.score_column(detector))


def _adjudicate(run_path: str, sample_id: int, action: str, new_label: int | None = None) -> None:
    try:
        data.review_store(run_path).adjudicate([sample_id], action, auth.current_actor(), new_label=new_label)
    except GradsiftError as exc:
        st.error(widgets.read_error(exc))
        return
    st.toast(f"#{sample_id}: {VOTE_WORDS.get(action, action)} decided")
    st.rerun()


def accept(run_path: str, sample_ids: list[int] | None, min_quality: float | None = None) -> None:
    """Accept the consensus (core.review.consensus.accept_consensus: the store checks the lead's role); a refusal is
    one line. min_quality: default 0 for chosen samples (the lead looked at them), else consensus.LOW_QUALITY."""
    if min_quality is None:
        min_quality = 0.0 if sample_ids else consensus.LOW_QUALITY
    try:
        written = consensus.accept_consensus(data.review_store(run_path), auth.current_actor(), sample_ids,
                                             min_quality=min_quality)
    except GradsiftError as exc:
        st.error(widgets.read_error(exc))
        return
    st.toast(f"Consensus accepted on {written} sample(s)")
    st.rerun()


def gold_label_ui(container, task: str, names: list[str]) -> tuple[object, str]:
    """The gold label's widget in the task's form (a class, a tag set, a value); returns (label for
    ReviewStore.mark_gold, its text)."""
    if task == "multilabel":
        tags = container.multiselect("Its known tags", list(range(len(names))), key="team_gold_label",
                                     format_func=lambda value: formatting.class_name(names, value))
        return [int(t) for t in tags], formatting.tag_text(tags, names)
    if task == "regression":
        value = container.number_input("Its known value", value=0.0, format="%.6g", key="team_gold_label")
        return float(value), f"{value:.6g}"
    label = container.selectbox("Its known class", list(range(len(names))), key="team_gold_label",
                                format_func=lambda value: formatting.class_name(names, value))
    return int(label), formatting.class_name(names, label)


def settings_ui(run_path: str, names: list[str]) -> None:
    """Overlap and lease time; gold marks on one sample."""
    store = data.review_store(run_path)
    with st.container(border=True):
        cols = st.columns([1, 1, 1, 1, 1.3, 1])
        overlap = cols[0].number_input("Overlap (annotators per sample)", 1, 3, min(store.overlap(), 3),
                                       key="team_overlap")
        minutes = cols[1].number_input("Lease (minutes)", 1, 240, max(1, round(store.lease_seconds() / 60)),
                                       key="team_lease")
        cols[2].space("small")
        if cols[2].button("Save", key="team_save", width="stretch"):
            try:
                store.set_overlap(int(overlap), auth.current_actor())
                store.set_lease_seconds(float(minutes) * 60, auth.current_actor())
            except GradsiftError as exc:
                st.error(widgets.read_error(exc))
            else:
                st.toast(f"Overlap {int(overlap)}, lease {int(minutes)} min")
        sample = cols[3].number_input("Gold sample #", 0, max((store.n_samples or 1) - 1, 0), 0, key="team_gold_id")
        label, text = gold_label_ui(cols[4], kinds.task_name(run_path), names)
        cols[5].space("small")
        if cols[5].button("Mark gold", key="team_gold", width="stretch"):
            try:  # the store checks the lead's role and the label's form (core.run.label_forms)
                store.mark_gold([int(sample)], label, auth.current_actor())
            except GradsiftError as exc:
                st.error(widgets.read_error(exc))
            else:
                st.toast(f"#{int(sample)} is gold: {text}")
        gold = store.gold()
        st.caption(f"{len(gold)} gold sample(s)" + (": " + ", ".join(f"#{i}" for i in sorted(gold)[:20])
                                                     if gold else ""))


def adjudication_card_ui(run_path: str, row: dict, names: list[str], frame) -> None:
    """One sample of the lead's queue: picture, every vote, the model's and CROWDLAB's labels, the decisions."""
    sample_id = int(row[schema.SAMPLE_ID])
    record = frame[frame[schema.SAMPLE_ID] == sample_id].iloc[0].to_dict()
    with st.container(border=True):
        picture, facts, decide = st.columns([1, 3, 2])
        if data.is_image_run(run_path):
            image = data.images(run_path, np.array([int(record[schema.THUMBNAIL_ROW])]), min_side=112)[0]
            picture.image(formatting.as_image(image), width="stretch")
        reason = "votes disagree" if row["reason"] == "disagreement" else "low consensus quality"
        given = formatting.escape_markdown(formatting.class_name(names, record[schema.GIVEN_LABEL]))
        facts.markdown(f"**#{sample_id}** · {reason} · given **{given}**")
        facts.markdown("  \n".join(vote_text(vote, names) for vote in row["votes"]))
        model = ("model suggests **" + formatting.escape_markdown(formatting.class_name(names, row["suggested_label"]))
                 + f"** ({row['suggested_prob']:.2f})") if row["suggested_label"] is not None else "no model suggestion"
        crowd = ("CROWDLAB consensus **" + formatting.escape_markdown(formatting.class_name(names, row[
            "consensus_label"])) + f"** (quality {row['consensus_quality']:.2f})") \
            if row["consensus_label"] is not None else "no CROWDLAB consensus (needs two annotators' classes)"
        facts.markdown(f"{model} · {crowd}")
        top = decide.columns(3)
        if top[0].button("Keep", key=f"adj_keep_{sample_id}", width="stretch"):
            _adjudicate(run_path, sample_id, KEEP)
        if top[1].button("Remove", key=f"adj_remove_{sample_id}", width="stretch"):
            _adjudicate(run_path, sample_id, MISLABELED)
        if top[2].button("Consensus", key=f"adj_accept_{sample_id}", width="stretch",
                         help="Accept CROWDLAB's consensus label (keep when it is the given label, else relabel)",
                         disabled=row["consensus_label"] is None):
            accept(run_path, [sample_id])
        pick, go = decide.columns([2, 1])
        target = pick.selectbox("Relabel to", list(range(len(names))), key=f"adj_target_{sample_id}",
                                format_func=lambda value: formatting.class_name(names, value),
                                label_visibility="collapsed")
        if go.button("Relabel", key=f"adj_relabel_{sample_id}", width="stretch"):
            _adjudicate(run_path, sample_id, RELABEL, int(target))


def lead_ui(run_path: str) -> None:
    """The lead's adjudication view: settings, then the samples the votes did not settle."""
    names = data.class_names(run_path)
    if not auth.permitted_ui("adjudicate"):
        return
    settings_ui(run_path, names)
    pending = team_data.adjudication_queue(run_path)
    disagreements = int((pending["reason"] == "disagreement").sum()) if len(pending) else 0
    st.caption(f"{disagreements} open disagreement(s) (no decision until you settle them) · "
               f"{len(pending) - disagreements} agreeing sample(s) of low consensus quality (their agreed decision "
               "stands until you decide otherwise)")
    if disagreements and st.button("Accept CROWDLAB's consensus on every open disagreement", key="adj_accept_all",
                                   help=f"Only where its quality is at least {consensus.LOW_QUALITY}"):
        accept(run_path, None)
    if not len(pending):
        st.success("Nothing to adjudicate: every voted sample is settled.")
        return
    frame = data.samples(run_path)
    for row in pending.head(MAX_SHOWN).to_dict("records"):
        adjudication_card_ui(run_path, row, names, frame)
