"""Team: how a team's review is going (docs/dashboard.md, "Working as a team").

Per annotator: its decisions, its agreement with the consensus, its accuracy on gold samples, its pace (decisions per
hour between its first and last vote) and CROWDLAB's estimate of its quality; the agreement figure (Krippendorff's
alpha over the samples with two votes or more) and the agreement between each pair of annotators; the open
disagreements with each vote; progress overall. Every number is core's (core.review.consensus.team_summary,
core.review.assignment.progress, core.review.team_stats), read through dashboard.team_data's caches.

Blind review: an annotator sees the numbers but not the other reviewers' votes on open samples.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.auth.roles import ANNOTATOR
from dashboard import auth, data, figures, team_data, team_review, widgets


def progress_ui(run_path: str, summary: dict) -> dict:
    """Progress on the flagged samples (core.review.assignment.progress) and the consensus counts of every voted
    sample (team_summary: a sample voted on outside the flagged set counts there too)."""
    progress = team_data.progress(run_path)
    overall, counts = progress["overall"], summary["consensus"]
    cols = st.columns(6)
    cols[0].metric("flagged samples", f"{overall['samples']:,}")
    cols[1].metric("complete", f"{overall['complete']:,}", help="Flagged samples adjudicated or with `overlap` votes")
    cols[2].metric("votes cast / needed", f"{overall['votes_cast']:,} / {overall['votes_needed']:,}",
                   help="On the flagged samples")
    cols[3].metric("open disagreements", f"{counts['disagreements_open']:,}", help="On every voted sample")
    cols[4].metric("adjudicated", f"{counts['adjudicated']:,}", help="On every voted sample")
    cols[5].metric("overlap", overall["overlap"])
    return progress


def annotators_table(summary: dict, pace: dict, progress: dict) -> pd.DataFrame:
    """One row per annotator: the team summary's numbers, its pace and what is left in its queue."""
    left = {row["name"]: row["queue_left"] for row in progress["annotators"]}
    return pd.DataFrame([{
        "annotator": row["name"],
        "decided": row["decided"],
        "agreement with consensus": row["agreement_with_consensus"],
        "accuracy on gold": row["gold_accuracy"],
        "gold answered": row["n_gold"],
        "CROWDLAB quality": row["quality"],
        "decisions per hour": pace.get(row["name"]),
        "queue left": left.get(row["name"]),
    } for row in summary["annotators"]],
        columns=["annotator", "decided", "agreement with consensus", "accuracy on gold", "gold answered",
                 "CROWDLAB quality", "decisions per hour", "queue left"])


def disagreements_ui(run_path: str, names: list[str]) -> None:
    actor = auth.current_actor()
    pending = team_data.adjudication_queue(run_path)
    open_now = pending[pending["reason"] == "disagreement"] if len(pending) else pending
    st.markdown(f"#### Open disagreements ({len(open_now)})")
    if not len(open_now):
        st.caption("None: every sample's votes agree, or a lead has settled them.")
        return
    if auth.signs_in() and actor is not None and actor.role == ANNOTATOR:
        st.caption("The votes are hidden from annotators (blind review); a lead settles these on the Flagged review "
                   "page (adjudication).")
        return
    st.dataframe(pd.DataFrame({
        "sample": open_now["sample_id"].astype(int).to_numpy(),
        "votes": [" · ".join(team_review.vote_text(vote, names).replace("**", "") for vote in votes)
                  for votes in open_now["votes"]],
    }), hide_index=True, key="team_disagreements")


@widgets.page
def main() -> None:
    st.title("Team")
    run_path = widgets.require_run()
    names = data.class_names(run_path)
    summary = team_data.team_summary(run_path)
    progress = progress_ui(run_path, summary)
    agreement, shared, pace = team_data.agreement_and_pace(run_path)
    if not summary["annotators"]:
        st.info("No votes yet: once annotators decide on flagged samples, their numbers appear here.")
        return
    alpha = summary["agreement"]
    left, right = st.columns([1, 3])
    left.metric("Krippendorff's alpha", "–" if alpha["value"] is None else f"{alpha['value']:.3f}",
                help=f"{alpha['metric']}, over the samples with two votes or more; 1 = full agreement, 0 = chance")
    left.caption(f"over {alpha['n_samples']} sample(s) with two votes or more · "
                 f"{summary['consensus']['votes']} vote(s) by {len(summary['annotators'])} annotator(s)")
    table = annotators_table(summary, pace, progress)
    right.dataframe(table, hide_index=True, key="team_annotators", column_config={
        column: st.column_config.NumberColumn(format="percent") for column in
        ("agreement with consensus", "accuracy on gold")} | {
        "decisions per hour": st.column_config.NumberColumn(format="%.1f"),
        "CROWDLAB quality": st.column_config.NumberColumn(format="%.2f")})
    st.markdown("#### Agreement between annotators")
    st.caption("Share of the samples both decided where they decided the same (a class, or remove).")
    st.plotly_chart(figures.agreement_matrix_figure(agreement, shared), key="team_agreement")
    disagreements_ui(run_path, names)


main()
