"""gradsift dashboard entry point: page config, the sign-in gate, the shared sidebar (run, reviewer), navigation.

Started by `gradsift dashboard RUNS_DIR` (env GRADSIFT_RUNS_DIR names the runs directory; the
sign-in setup comes from the command too: dashboard/auth.py). Each page is one module in dashboard/pages/.
"""

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

from dashboard import auth, state, widgets  # noqa: E402

st.set_page_config(page_title="gradsift", page_icon="🔎", layout="wide")
auth.gate()  # nobody signed in: the sign-in page is drawn and the run stops here

pages = [
    st.Page(state.PAGES["overview"], title="Runs / overview", icon=":material/dashboard:", default=True),
    st.Page(state.PAGES["gradient_space"], title="Gradient space", icon=":material/scatter_plot:"),
    st.Page(state.PAGES["outlier_vs_influence"], title="Outlier vs influence", icon=":material/compare_arrows:"),
    st.Page(state.PAGES["flagged_review"], title="Flagged review", icon=":material/fact_check:"),
    st.Page(state.PAGES["budget_retrain"], title="Budget & retrain", icon=":material/tune:"),
    st.Page(state.PAGES["sample_detail"], title="Sample detail", icon=":material/image_search:"),
    st.Page(state.PAGES["test_explorer"], title="Test-sample explorer", icon=":material/travel_explore:"),
    st.Page(state.PAGES["team"], title="Team", icon=":material/groups:"),
]
navigation = st.navigation(pages)
widgets.run_picker_ui()
widgets.reviewer_ui()
navigation.run()
