"""The review loop on the Flagged review page: "re-rank with my decisions", the queue in re-ranked order, and
the re-estimated number of wrong labels left.

The re-ranking is computed by core (core.review.rerank) in a background job started by a button, never on a
widget change; the page reads the stored result (dashboard.data.rerank) and says when decisions were made
after it, so the person knows to re-rank again.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from core.review.rerank import RerankResult, is_current
from core.run import schema
from dashboard import auth, data, jobs, widgets

RERANK_JOBS = "rerank_jobs"
ORDER_KEY = "review_order"
STATIC, RERANKED = "static score", "re-ranked with my decisions"


def _start(run_path: str) -> None:
    busy = jobs.running_job_for(run_path, "rerank")
    if busy is not None:
        st.warning(f"A re-ranking of this run is already running ({busy.title}); wait for it to finish.")
        return
    job = jobs.start_job("rerank", "re-ranking with the decisions so far", run_path, jobs.rerank_work(run_path),
                          actor=auth.current_actor())
    st.session_state.setdefault(RERANK_JOBS, []).append(job.id)
    time.sleep(0.2)


def estimate_text(result: RerankResult) -> str:
    remaining = result.facts["remaining"]
    return (f"about **{remaining['estimate']:.0f}** wrong labels left among the {remaining['n_unreviewed']:,} "
            f"unreviewed samples (range {remaining['low']:.0f}–{remaining['high']:.0f})")


def rerank_ui(run_path: str, frame: pd.DataFrame, decisions: pd.DataFrame) -> RerankResult | None:
    """The loop's controls; returns the re-ranking to order the queue by (None: the static order)."""
    result = data.rerank(run_path)
    with st.container(border=True):
        left, right = st.columns([1, 2])
        if left.button("Re-rank with my decisions", key="rerank_start", icon=":material/model_training:",
                       help="Refits the last layer with your relabels applied and confirmed-mislabeled samples left "
                            "out, re-ranks the unreviewed samples and re-estimates the wrong labels left "
                            "(docs/review-loop.md). Seconds; runs in the background."):
            _start(run_path)
        order = right.segmented_control("Order the queue by", [STATIC, RERANKED], default=STATIC, key=ORDER_KEY,
                                        required=True, disabled=result is None,
                                        help=None if result is not None else "Re-rank first")
        widgets.job_progress_ui(RERANK_JOBS)
        if result is None:
            st.caption("No re-ranking yet: review a batch, then re-rank to have the queue learn from your decisions.")
            return None
        facts = result.facts
        stale = "" if is_current(result, decisions) else \
            f" · :orange[the decisions changed since ({len(decisions)} now): re-rank again to use them]"
        st.markdown(estimate_text(result) + f"  \n:gray[re-ranked by {facts['method']} from {facts['n_decisions']} "
                    f"decision(s) ({facts['n_wrong']} wrong, {facts['n_kept']} kept), {facts['created']}]" + stale)
        if data.has_truth(frame):
            decided = decisions[schema.SAMPLE_ID].to_numpy(np.int64)
            unreviewed = np.setdiff1d(frame[schema.SAMPLE_ID].to_numpy(np.int64), decided)
            left_now = int(frame[schema.IS_NOISY].to_numpy(bool)[unreviewed].sum())
            st.caption(f"Known truth (measurement only): {left_now} wrong labels are left among the "
                       f"{len(unreviewed):,} samples unreviewed now.")
    return result if order == RERANKED else None


def reranked_rows(frame: pd.DataFrame, result: RerankResult, decided: np.ndarray, classes: list[int], status: str,
                  queue_length: int) -> pd.DataFrame:
    """The queue in re-ranked order: the `queue_length` best-ranked samples still unreviewed (re-ranked order),
    then, for the reviewed/all filters, the reviewed ones (highest re-ranked score first)."""
    table = frame.merge(result.frame[[schema.SAMPLE_ID, schema.RERANK_SCORE, schema.RERANK_RANK]],
                        on=schema.SAMPLE_ID, how="left")
    if classes:
        table = table[table[schema.GIVEN_LABEL].isin(classes)]
    ids = table[schema.SAMPLE_ID].to_numpy(np.int64)
    open_now = (decided[ids] == "") & (table[schema.RERANK_RANK].to_numpy() > 0)
    queue = table[open_now].sort_values(schema.RERANK_RANK).head(queue_length)
    reviewed = table[decided[ids] != ""].sort_values([schema.RERANK_SCORE, schema.SAMPLE_ID],
                                                     ascending=[False, True])
    parts = {"unreviewed": [queue], "reviewed": [reviewed]}.get(status, [queue, reviewed])
    return pd.concat(parts)
