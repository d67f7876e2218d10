"""`*_ui` widget functions shared by pages: run and reviewer pickers, review actions, job progress, grids.

Figures come from dashboard.figures, cached reads from dashboard.data, background work
from dashboard.jobs; nothing here computes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.auth import serving
from core.errors import GradsiftError, RunDirError
from core.run import schema
from core.run.reviews import ACTIONS, CLEAR, KEEP, MISLABELED, RELABEL
from dashboard import auth, data, paths
from dashboard import jobs as job_runner
from dashboard.formatting import (
    CARD_TEXT_CHARS,
    as_image,
    class_name,
    labels_markdown,
    short_text,
    suggestion_markdown,
)
from dashboard.state import (
    REVIEWER_KEY,
    RUN_KEY,
    current_reviewer,
    current_run,
    open_detail,
)

ACTION_LABELS = {MISLABELED: "Confirm mislabeled", KEEP: "Keep (false alarm)", CLEAR: "Clear my decision"}
ACTION_BADGES = {MISLABELED: ("mislabeled", "red"), RELABEL: ("relabelled", "orange"), KEEP: ("kept", "green")}


def read_error(exc: BaseException) -> str:
    """One line for st.error from a run-directory or input error."""
    return str(exc) if isinstance(exc, (RunDirError, GradsiftError)) else f"{type(exc).__name__}: {exc}"


def run_picker_ui() -> str | None:
    """Sidebar picker of the run every page shows; returns its path (None when no runs exist)."""
    runs = paths.list_runs()
    if not runs:
        st.session_state.pop(RUN_KEY, None)
        return None
    names = [Path(run).name for run in runs]
    current = st.session_state.get(RUN_KEY)
    index = runs.index(current) if current in runs else 0
    name = st.sidebar.selectbox("Run", names, index=index, key="run_picker",
                                help=f"Run directories in {paths.runs_dir()}")
    st.session_state[RUN_KEY] = runs[names.index(name)]
    return st.session_state[RUN_KEY]


def reviewer_ui() -> str:
    """Sidebar field for the reviewer's name, stored with every review action; none when the name
    comes from sign-in or the dashboard is read-only (dashboard.auth draws who is acting instead)."""
    if auth.mode() != serving.NONE:
        return current_reviewer()

    def keep() -> None:
        st.session_state[REVIEWER_KEY] = st.session_state["reviewer_input"].strip()

    st.sidebar.text_input("Reviewer name", value=st.session_state.get(REVIEWER_KEY, ""), key="reviewer_input",
                          placeholder="your name", on_change=keep,
                          help="Recorded with every review action, with a timestamp.")
    return current_reviewer()




def no_runs_ui() -> None:
    st.info(f"No analyzed runs in **{paths.runs_dir()}** yet.")
    st.markdown(
        "Create one from a terminal, then reload this page:\n\n"
        "```bash\ngradsift analyze --dataset digits --out "
        f"{paths.runs_dir()}/digits\n```\n\n"
        "or launch one below from **Runs / overview** (`gradsift datasets` lists the embedded datasets; "
        "a path to an image folder, a .csv/.parquet manifest or an .npz works too).")




def require_run() -> str:
    """The selected run's path, after checking it reads; otherwise a message and st.stop()."""
    run_path = current_run()
    if not run_path:
        no_runs_ui()
        st.stop()
    try:
        data.manifest(run_path)
        data.samples(run_path)
    except GradsiftError as exc:
        st.error(f"Cannot read run **{Path(run_path).name}**: {read_error(exc)}")
        st.stop()
    return run_path


def page(main):
    """Decorator for a page's main(): an input or run-directory error (GradsiftError) raised
    anywhere in the page becomes one st.error line instead of a traceback."""

    @functools.wraps(main)
    def wrapper() -> None:
        try:
            main()
        except GradsiftError as exc:
            st.error(read_error(exc))

    return wrapper




def review_options(names: Sequence[str]) -> list[str]:
    return [ACTION_LABELS[MISLABELED], ACTION_LABELS[KEEP],
            *(f"Relabel to {name}" for name in names), ACTION_LABELS[CLEAR]]


def parse_review_option(option: str, names: Sequence[str]) -> tuple[str, int | None]:
    """(action, new_label) of an option from `review_options`."""
    for action, label in ACTION_LABELS.items():
        if option == label:
            return action, None
    target = option.removeprefix("Relabel to ")
    return RELABEL, list(names).index(target)


def record_review(run_path: str, sample_ids: Sequence[int], action: str, new_label: object,
                  reviewer: str, detector: str | None = None, split: str = "train") -> bool:
    """Write one review action (one transaction); shows a toast or an error. True on success. `new_label` is in
    the run's task form (a class index, a tag tuple, a value): the store checks it (core.run.label_forms)."""
    if action not in ACTIONS:
        st.error(f"unknown action {action}")
        return False
    if not reviewer:
        st.warning("Type your name in the sidebar (Reviewer name) before reviewing.")
        return False
    try:  # the store checks the signed-in actor's role (core.auth.roles) and records its name
        count = data.review_store(run_path, split).record(sample_ids, action, auth.current_actor(),
                                                          new_label=new_label, detector=detector)
    except GradsiftError as exc:
        st.error(read_error(exc))
        return False
    st.toast(f"{ACTION_LABELS.get(action, action)}: {count} sample(s) recorded by {reviewer}")
    return True


def review_menu_ui(run_path: str, sample_id: int, names: Sequence[str], reviewer: str,
                   detector: str | None = None, key_prefix: str = "review", split: str = "train") -> None:
    """One dropdown per sample: confirm mislabeled, keep, relabel to a class, clear."""
    choice = st.menu_button("Review", review_options(names), key=f"{key_prefix}_{sample_id}",
                            disabled=not reviewer, help=None if reviewer else "Type your name in the sidebar first")
    if choice is not None:
        action, new_label = parse_review_option(choice, names)
        if record_review(run_path, [sample_id], action, new_label, reviewer, detector, split=split):
            st.rerun()


def accept_action(record: Mapping) -> tuple[str, int | None]:
    """What accepting a sample's suggested label records: keep when it is the given label, else a relabel to it."""
    suggested = int(record[schema.SUGGESTED_LABEL])
    return (KEEP, None) if suggested == int(record[schema.GIVEN_LABEL]) else (RELABEL, suggested)


def accept_button_ui(run_path: str, record: Mapping, names: Sequence[str], reviewer: str, detector: str | None,
                     key: str) -> None:
    """One click records the suggestion (`accept_action`)."""
    action, target = accept_action(record)
    label = "Accept: keep" if action == KEEP else f"Accept {class_name(names, target)}"
    if st.button(
        label, key=key, disabled=not reviewer, help=None if reviewer else "Type your name in the sidebar first"
    ):
        if record_review(run_path, [int(record[schema.SAMPLE_ID])], action, target, reviewer, detector):
            st.rerun()


def decision_badge_ui(decision: str, new_label=None, names: Sequence[str] = ()) -> None:
    if decision in ACTION_BADGES:
        text, colour = ACTION_BADGES[decision]
        if decision == RELABEL and new_label is not None:
            text = f"relabelled → {class_name(names, new_label)}"
        st.badge(text, color=colour)


def job_progress_ui(job_ids_key: str) -> None:
    """Progress of this session's jobs stored under session_state[job_ids_key].

    While one is running, a fragment re-draws every second (the rest of the page stays
    interactive); when it ends, the whole page reruns once so its results appear.
    """
    job_ids = st.session_state.get(job_ids_key, [])
    jobs = [job for job in map(job_runner.get_job, job_ids) if job is not None]
    if not jobs:
        return
    if any(job.status == "running" for job in jobs):
        _job_poll_fragment(job_ids_key)
    else:
        _job_list_ui(jobs)


@st.fragment(run_every=1.0)
def _job_poll_fragment(job_ids_key: str) -> None:
    jobs = [job for job in map(job_runner.get_job, st.session_state.get(job_ids_key, [])) if job is not None]
    _job_list_ui(jobs)
    if not any(job.status == "running" for job in jobs):
        st.rerun(scope="app")


def _job_list_ui(jobs: list[job_runner.Job]) -> None:
    for job in jobs[-3:][::-1]:
        state = job.snapshot()
        if state["status"] == "running":
            st.progress(state["fraction"], text=f"**{state['title']}**: {state['stage']} "
                                                f"({state['seconds']:.0f} s)")
        elif state["status"] == "done":
            st.success(f"**{state['title']}** finished in {state['seconds']:.1f} s")
        else:
            st.error(f"**{state['title']}** failed: {state['error']}")
        if state["messages"]:
            st.caption(" · ".join(state["messages"][-3:]))


BUDGET_STEP_PCT = 0.5
"""The budget slider's step, in percent of the training samples (it starts at 0: with reviews, "retrain with
my reviews applied" at k = 0 applies the reviews alone)."""


def budget_top_pct(suggested: dict | None) -> float:
    """The slider's upper end in %: 15, or the suggested interval's upper end rounded up to 5 points, plus 5."""
    if not suggested:
        return 15.0
    return float(max(15.0, 5.0 * np.ceil(suggested["high"] * 100 / 5) + 5.0))


def budget_ui(run_path: str, detector: str, key: str, label: str, container=None) -> float:
    """The one budget slider of every page: returns the chosen budget as a fraction of the training samples.

    Starts at the run's flagging budget (core.detect.flagging.Flagging, from the manifest); marks the suggested
    budget (the estimated noise rate and its interval) with a button that moves the slider to it, and says the
    estimated precision and recall of `detector`'s flags at the chosen k (core's estimate). Moving it computes
    nothing but a mask; retraining waits for a button.
    """
    container = container or st
    suggested = data.suggested_budget(run_path)
    top = budget_top_pct(suggested)

    def on_grid(fraction: float) -> float:
        return min(max(round(fraction * 100 / BUDGET_STEP_PCT) * BUDGET_STEP_PCT, 0.0), top)

    if key not in st.session_state:  # the run's budget first; later the person's choice
        st.session_state[key] = on_grid(data.flagging(run_path).budget)
    left, right = container.columns([3, 1])
    percent = left.slider(label, 0.0, top, step=BUDGET_STEP_PCT, format="%.1f%%", key=key)
    if suggested:
        right.button(f"Use the suggested {suggested['value']:.1%}", key=f"{key}_use_suggested",
                     on_click=lambda: st.session_state.__setitem__(key, on_grid(suggested["value"])),
                     help="Set the slider to the estimated noise rate (docs/budget.md).")
        precision, recall = data.estimated_at(run_path, detector, percent / 100)
        left.caption(f"Suggested budget **{suggested['value']:.1%}** ({suggested['level']:.0%} interval "
                     f"{suggested['low']:.1%} to {suggested['high']:.1%}, {suggested['method']}). At k = "
                     f"{percent:.1f}%, {detector}'s flags have an estimated precision **{_percent(precision)}** and "
                     f"recall **{_percent(recall)}**.")
    return percent / 100


def _percent(value: float) -> str:
    return "-" if value != value else f"{value:.0%}"


def paginate_ui(n_items: int, per_page: int, key: str) -> slice:
    """A pagination widget under a grid; returns the slice of items on the chosen page."""
    pages = max(1, -(-n_items // per_page))
    page = st.pagination(pages, key=key) if pages > 1 else 1
    page = min(max(int(page or 1), 1), pages)
    return slice((page - 1) * per_page, min(page * per_page, n_items))


TEXT_COLUMNS = 3
"""Cards per row for texts (a text needs more width than a thumbnail)."""


def text_ui(text: str, key: str, limit: int = CARD_TEXT_CHARS) -> None:
    """A text as plain text (never Markdown or HTML), shortened to `limit` characters; the whole text in
    an expander when it was cut."""
    short = short_text(text, limit)
    st.text(short, width="stretch")
    if short != " ".join(str(text).split()):
        with st.expander("full text", key=key):
            st.text(str(text), width="stretch")


def sample_grid_ui(
    run_path: str,
    rows: pd.DataFrame,
    *,
    key_prefix: str,
    columns: int = 6,
    score_column: str | None = None,
    decisions: np.ndarray | None = None,
    new_labels: Mapping[int, int] | None = None,
    reviewer: str = "",
    detector: str | None = None,
    actions: bool = False,
) -> list[int]:
    """Cards of samples, with labels, score and review state: the thumbnail (nearest-neighbour enlarged)
    of an image run, the text (shortened, plain, whole on expand) of a text run.

    `rows` is one page of samples (a few dozen at most). With `actions`, each card gets a
    review menu and a checkbox; returns the sample ids whose checkbox is ticked.
    """
    names = data.class_names(run_path)
    truth_known = data.has_truth(rows) if len(rows) else False
    texts = data.is_text_run(run_path)
    columns = min(columns, TEXT_COLUMNS) if texts else columns
    pictures = None if texts else data.images(run_path, rows[schema.THUMBNAIL_ROW].to_numpy(dtype=np.int64),
                                              min_side=112)
    picked = []
    records = rows.to_dict("records")
    for start in range(0, len(records), columns):
        cells = st.columns(columns)
        for offset, (cell, record) in enumerate(zip(cells, records[start:start + columns])):
            sample_id = int(record[schema.SAMPLE_ID])
            with cell.container(border=True):
                if texts:
                    text_ui(record[schema.TEXT], key=f"{key_prefix}_full_{sample_id}")
                else:
                    st.image(as_image(pictures[start + offset]), width="stretch")
                st.markdown(labels_markdown(record, names, truth_known))
                if schema.SUGGESTED_LABEL in record:
                    st.caption(suggestion_markdown(record, names))
                caption = f"#{sample_id}"
                if score_column is not None:
                    caption += f" · {record[score_column]:.3g}"
                st.caption(caption)
                if decisions is not None:
                    decision_badge_ui(decisions[sample_id], (new_labels or {}).get(sample_id), names)
                if actions:
                    if st.checkbox("select", key=f"{key_prefix}_pick_{sample_id}"):
                        picked.append(sample_id)
                    review_menu_ui(run_path, sample_id, names, reviewer, detector, key_prefix=f"{key_prefix}_menu")
                    accept_button_ui(
                        run_path, record, names, reviewer, detector, key=f"{key_prefix}_accept_{sample_id}"
                    )
                if st.button("details", key=f"{key_prefix}_detail_{sample_id}", type="tertiary"):
                    open_detail(sample_id)
    return picked
