"""What Streamlit session state holds: the chosen run, the reviewer, the sample to open; the page table.

Session state holds only what the person has selected; everything else is read from the
run directory (dashboard.data).
"""

from __future__ import annotations

import streamlit as st

from core.auth import serving
from dashboard import paths

RUN_KEY = "run_path"
"""session_state key of the run every page shows (set by the sidebar picker)."""
DETAIL_KEY = "detail_sample"
"""session_state key of the sample the Sample detail page opens (set by a click elsewhere)."""
REVIEWER_KEY = "reviewer"
"""session_state key of the reviewer's name (plain state, kept when a page does not draw the sidebar field)."""

PAGES = {
    "overview": "pages/overview.py",
    "gradient_space": "pages/gradient_space.py",
    "outlier_vs_influence": "pages/outlier_vs_influence.py",
    "flagged_review": "pages/flagged_review.py",
    "budget_retrain": "pages/budget_retrain.py",
    "sample_detail": "pages/sample_detail.py",
    "test_explorer": "pages/test_explorer.py",
    "team": "pages/team.py",
}



def current_reviewer() -> str:
    """The name recorded with a review: the signed-in user's, the name typed in the sidebar when
    nobody signs in, and "" for a read-only visitor (who may not review)."""
    from dashboard import auth

    if auth.mode() == serving.READ_ONLY:
        return ""
    if auth.signs_in():
        actor = auth.current_actor()
        return actor.name if actor else ""
    return str(st.session_state.get(REVIEWER_KEY, "")).strip()


def current_run() -> str | None:
    """The run chosen in the sidebar; the first run when none was chosen yet (a page opened
    directly, before the sidebar drew); None when the runs directory holds no run."""
    run_path = st.session_state.get(RUN_KEY)
    if not run_path:
        runs = paths.list_runs()
        run_path = runs[0] if runs else None
        if run_path:
            st.session_state[RUN_KEY] = run_path
    return run_path


def open_detail(sample_id: int) -> None:
    """Switch to the Sample detail page showing `sample_id`."""
    st.session_state[DETAIL_KEY] = int(sample_id)
    st.switch_page(PAGES["sample_detail"])
