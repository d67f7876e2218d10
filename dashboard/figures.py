"""Pure Plotly figure builders (each returns a `go.Figure`) and the colour and selection helpers they use.

No streamlit import here. Figures take whole NumPy columns and build one WebGL trace per
colour group, never a Python loop per point, so a 50,000-point map serializes in a
fraction of a second. Every scatter of samples carries `customdata` rows `[sample_id, ...]`:
selections are mapped back to samples through it (`selected_ids`), never through
trace/point indices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.evaluate.explore import drawn_rows
from core.run import schema
from core.run.reviews import KEEP, MISLABELED, RELABEL

QUALITATIVE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
               "#e6550d", "#31a354", "#756bb1", "#636363")
NAMED_COLOURS = {"no": "#c7c7cc", "yes": "#dc2626", "unknown": "#a1a1aa", "unreviewed": "#c7c7cc",
                 MISLABELED: "#dc2626", RELABEL: "#ea580c", KEEP: "#16a34a"}
"""Fixed colours for categorical maps whose every category is named here (flags, truth, reviews)."""
MAX_DRAWN = 60_000
"""Maps of more samples draw every kept (flagged, highlighted) point and a seeded sample of the rest
(`core.evaluate.explore.drawn_rows`); selections still map back to sample ids through customdata."""
MAX_CATEGORY_TRACES = len(QUALITATIVE)
"""Above this many categories a map uses one trace with a colour scale instead of one trace per category."""
# -- selections --------------------------------------------------------------------------------
def _first(value) -> float | None:
    """A point's sample id from its customdata: a scalar, a list `[id, ...]`, or (real browsers
    serialize typed-array rows that way) a dict `{"0": id, "1": ...}`."""
    if isinstance(value, Mapping):
        value = value.get("0", value.get(0))
    elif isinstance(value, (list, tuple, np.ndarray)):
        value = value[0] if len(value) else None
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def selected_ids(event) -> list[int]:
    """Sample ids of the points in a Plotly selection event (dict or Streamlit's PlotlyState)."""
    if not event:
        return []
    selection = event.get("selection") if isinstance(event, Mapping) else getattr(event, "selection", None)
    points = (selection or {}).get("points", []) if isinstance(selection, Mapping) else []
    ids = [_first(point.get("customdata")) for point in points if isinstance(point, Mapping)]
    return sorted({int(i) for i in ids if i is not None and np.isfinite(i)})


# -- figures ----------------------------------------------------------------------------------
def scatter_figure(
    x: np.ndarray,
    y: np.ndarray,
    customdata: np.ndarray,
    *,
    color: np.ndarray | None = None,
    categories: Sequence[str] | None = None,
    color_title: str = "",
    hover_names: Sequence[str] = ("sample",),
    highlight: np.ndarray | None = None,
    x_title: str = "",
    y_title: str = "",
    height: int = 560,
    marker_size: float = 5,
    keep: np.ndarray | None = None,
    hover_text: np.ndarray | None = None,
) -> go.Figure:
    """A WebGL scatter of samples.

    `customdata` (n, k): column 0 is the sample id, the others are shown on hover under
    `hover_names[1:]`. Colour: `color` (n,) float for a continuous scale, or with
    `categories` (n,) int codes into `categories` (-1 = unknown), one trace per category.
    `highlight`: (m,) row positions drawn as rings on top (selected sample, neighbours).
    Above `MAX_DRAWN` points only the (n,) bool `keep` rows, the highlighted ones and a seeded
    sample of the rest are drawn (`drawn_note` says so in words).
    `hover_text` (n,) str: one line per point shown on hover (text runs: the text, escaped and
    shortened by `dashboard.formatting.hover_text`, since hover labels render HTML tags).
    """
    hover = "<br>".join(f"{name} %{{customdata[{i}]:.6~g}}" for i, name in enumerate(hover_names))
    hover += "<br>%{text}" if hover_text is not None else ""
    hover += "<br>x %{x:.3g}, y %{y:.3g}<extra>%{fullData.name}</extra>"
    texts = None if hover_text is None else np.asarray(hover_text, dtype=object)
    figure = go.Figure()
    if len(x) > MAX_DRAWN:
        must = np.zeros(len(x), bool) if keep is None else np.asarray(keep, bool).copy()
        if highlight is not None:
            must[np.asarray(highlight, np.int64)] = True
        rows = drawn_rows(len(x), must, MAX_DRAWN)
        if highlight is not None:
            highlight = np.searchsorted(rows, np.asarray(highlight, np.int64))
        x, y, customdata = np.asarray(x)[rows], np.asarray(y)[rows], np.asarray(customdata)[rows]
        color = None if color is None else np.asarray(color)[rows]
        texts = None if texts is None else texts[rows]
    # float32 halves what the browser downloads and parses; ids stay exact below 2**24.
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    customdata = np.asarray(customdata, np.float32)
    many = categories is not None and len(categories) > MAX_CATEGORY_TRACES
    if color is not None and categories is None:
        # Highest scores drawn last, on top: the outliers stay visible in a dense map.
        order = np.argsort(np.nan_to_num(np.asarray(color, np.float64), nan=-np.inf), kind="stable")
        x, y, customdata, color = x[order], y[order], customdata[order], np.asarray(color)[order]
        texts = None if texts is None else texts[order]
        if highlight is not None:
            highlight = np.argsort(order)[np.asarray(highlight, np.int64)]
    if color is None or categories is None or many:
        marker = dict(size=marker_size, opacity=0.8)
        if many:  # e.g. 100 classes: one trace with a cyclic scale instead of 100 legend entries
            marker.update(color=np.asarray(color, np.float32), colorscale="Turbo", showscale=True,
                          cmin=0, cmax=len(categories) - 1, colorbar=dict(title=f"{color_title} (index)"))
        elif color is not None:
            marker.update(color=np.asarray(color, np.float32), colorscale="Viridis", showscale=True,
                          colorbar=dict(title=color_title))
        else:
            marker.update(color=QUALITATIVE[0])
        figure.add_trace(go.Scattergl(x=x, y=y, customdata=customdata, mode="markers", marker=marker,
                                      text=None if texts is None else list(texts),
                                      name=color_title or "samples", hovertemplate=hover, showlegend=False))
    else:
        codes = np.asarray(color, np.int64)
        present = [c for c in np.unique(codes)]
        # Draw the common groups first so rare ones (noisy, flagged) stay visible on top.
        present.sort(key=lambda c: -int((codes == c).sum()))
        for code in present:
            rows = np.flatnonzero(codes == code)
            name = categories[code] if 0 <= code < len(categories) else "unknown"
            if set(categories) <= set(NAMED_COLOURS):
                colour = NAMED_COLOURS[str(name)]
            else:
                colour = QUALITATIVE[code % len(QUALITATIVE)] if code >= 0 else NAMED_COLOURS["unknown"]
            figure.add_trace(go.Scattergl(
                x=x[rows], y=y[rows], customdata=customdata[rows], mode="markers", name=str(name),
                text=None if texts is None else list(texts[rows]),
                marker=dict(size=marker_size, opacity=0.85, color=colour), hovertemplate=hover))
        figure.update_layout(legend=dict(title=color_title, itemsizing="constant"))
    if highlight is not None and len(highlight):
        rows = np.asarray(highlight, np.int64)
        figure.add_trace(go.Scattergl(
            x=x[rows], y=y[rows], customdata=customdata[rows], mode="markers", name="highlighted",
            text=None if texts is None else list(texts[rows]),
            marker=dict(size=marker_size * 3, color="rgba(0,0,0,0)", line=dict(width=2, color="#111827")),
            hovertemplate=hover))
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), dragmode="lasso",
                         xaxis_title=x_title, yaxis_title=y_title, uirevision="keep")
    return figure


def drawn_note(n: int, kept: str = "flagged") -> str:
    """The caption a map of n samples needs when it draws only some of them ('' when it draws all)."""
    if n <= MAX_DRAWN:
        return ""
    return f"Drawn: every {kept} sample and a random sample of the others, {MAX_DRAWN:,} points of {n:,}."


def _interval(values) -> tuple[float, float]:
    low, high = values
    return (np.nan if low is None else low), (np.nan if high is None else high)


def accuracy_figure(summaries: pd.DataFrame, title: str = "", metric: str = "accuracy") -> go.Figure:
    """Test accuracy (or the task's `metric`, as the pages name it: micro-F1, RMSE) vs budget from retrain
    summaries (core.evaluate.report.retrain_summaries: one row per
    detector, budget, mode and reviews): a line of means per detector with its 95% t-interval as a band,
    the k = 0 baseline (shared by every detector) as a dashed line with its own band, and
    review-applied retrainings as diamonds with error bars."""
    figure = go.Figure()
    if not len(summaries):
        return figure
    reviewed = summaries["reviews"].notna()
    baseline = summaries[(summaries["budget"] == 0) & ~reviewed]
    pruned = summaries[(summaries["budget"] > 0) & ~reviewed]
    for number, (detector, group) in enumerate(pruned.groupby("detector", sort=True)):
        group = pd.concat([baseline.assign(detector=detector), group]).sort_values("budget")
        bounds = np.array([_interval(ci) for ci in group["accuracy_ci"]])
        colour = QUALITATIVE[number % len(QUALITATIVE)]
        x = group["budget"].to_numpy() * 100
        figure.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([bounds[:, 1], bounds[::-1, 0]]),
                                    fill="toself", fillcolor=colour, opacity=0.15, line=dict(width=0),
                                    hoverinfo="skip", showlegend=False, name=f"{detector} 95% CI"))
        figure.add_trace(go.Scatter(
            x=x, y=group["accuracy_mean"], mode="lines+markers", name=detector, line=dict(color=colour),
            customdata=np.column_stack([bounds, [len(seeds) for seeds in group["seeds"]]]),
            hovertemplate=f"k %{{x:.1f}}%<br>test {metric} %{{y:.4f}} "
                          "[%{customdata[0]:.4f}, %{customdata[1]:.4f}]<br>%{customdata[2]} seeds"
                          "<extra>%{fullData.name}</extra>"))
    if len(baseline):
        mean = float(baseline["accuracy_mean"].iloc[0])
        low, high = _interval(baseline["accuracy_ci"].iloc[0])
        if low == low:
            figure.add_hrect(y0=low, y1=high, fillcolor="#52525b", opacity=0.08, line_width=0)
        figure.add_hline(y=mean, line_dash="dash", line_color="#52525b",
                         annotation_text=f"k = 0: {mean:.4f}", annotation_position="bottom right")
    if reviewed.any():
        rows = summaries[reviewed]
        bounds = np.array([_interval(ci) for ci in rows["accuracy_ci"]])
        figure.add_trace(go.Scatter(
            x=rows["budget"] * 100, y=rows["accuracy_mean"], mode="markers", name="with my reviews applied",
            marker=dict(symbol="diamond", size=12, color="#c2410c"),
            error_y=dict(type="data", symmetric=False, array=bounds[:, 1] - rows["accuracy_mean"],
                         arrayminus=rows["accuracy_mean"] - bounds[:, 0]),
            hovertemplate=f"k %{{x:.1f}}% + reviews<br>test {metric} %{{y:.4f}}<extra></extra>"))
    figure.update_layout(title=title, xaxis_title="budget k (% of training samples removed)",
                         yaxis_title=f"test {metric} (mean over seeds)", height=420,
                         margin=dict(l=10, r=10, t=40, b=10))
    return figure


def pr_figure(curves: Mapping[str, pd.DataFrame], noise_rate: float | None) -> go.Figure:
    """Precision-recall curves per score column; the noise rate is a random ranking's precision."""
    figure = go.Figure()
    for name, curve in curves.items():
        figure.add_trace(go.Scatter(x=curve["recall"], y=curve["precision"], mode="lines", name=name))
    if noise_rate:
        figure.add_hline(y=noise_rate, line_dash="dot", line_color="#71717a",
                         annotation_text=f"random ({noise_rate:.1%} noisy)")
    figure.update_layout(xaxis_title="recall of truly noisy samples", yaxis_title="precision",
                         xaxis_range=[0, 1], yaxis_range=[0, 1.02], height=420, margin=dict(l=10, r=10, t=30, b=10))
    return figure


def correlation_figure(matrix: pd.DataFrame) -> go.Figure:
    """Heatmap of a square rank-correlation frame."""
    values = matrix.to_numpy(dtype=np.float64)
    figure = go.Figure(go.Heatmap(z=values, x=list(matrix.columns), y=list(matrix.index), zmin=-1, zmax=1,
                                  colorscale="RdBu", reversescale=True, text=np.round(values, 2),
                                  texttemplate="%{text}", hovertemplate="%{y} vs %{x}: ρ=%{z:.3f}<extra></extra>"))
    figure.update_layout(height=120 + 40 * len(matrix), margin=dict(l=10, r=10, t=30, b=10),
                         yaxis_autorange="reversed")
    return figure


def label_codes(values: pd.Series) -> np.ndarray:
    """(n,) int64 codes of a nullable integer label column, -1 where missing."""
    return values.fillna(-1).to_numpy(dtype=np.int64)


def yes_no_codes(values: pd.Series) -> np.ndarray:
    """(n,) codes into ('no', 'yes', 'unknown') of a nullable bool column."""
    return np.where(values.isna().to_numpy(), 2, values.fillna(False).to_numpy(dtype=bool).astype(np.int64))


def hover_data(frame: pd.DataFrame, score_column: str | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """customdata (n, k) = [sample_id, given, predicted(, score)] and its hover names (a regression run: the given
    and predicted values; a multi-label run: how many tags are given and suggested)."""
    if schema.GIVEN_VALUE in frame.columns:
        given, predicted = frame[schema.GIVEN_VALUE], frame[schema.PRED_VALUE]
    elif schema.GIVEN_TAGS in frame.columns:
        given = frame[schema.GIVEN_TAGS].map(len).rename("given tags")
        predicted = frame[schema.SUGGESTED_TAGS].map(len).rename("suggested tags")
    else:
        given, predicted = frame[schema.GIVEN_LABEL], frame[schema.PRED_LABEL]
    columns = [frame[schema.SAMPLE_ID].to_numpy(np.float64), given.to_numpy(np.float64),
               predicted.to_numpy(np.float64)]
    names = ["sample", "given" if given.name in (schema.GIVEN_LABEL, schema.GIVEN_VALUE) else str(given.name),
             "predicted" if predicted.name in (schema.PRED_LABEL, schema.PRED_VALUE) else str(predicted.name)]
    if score_column is not None:
        columns.append(np.round(frame[score_column].to_numpy(np.float64), 4))
        names.append("score")
    return np.column_stack(columns), tuple(names)


COLOUR_SCORE, COLOUR_FLAGGED, COLOUR_GIVEN, COLOUR_TRUE, COLOUR_PRED, COLOUR_NOISY, COLOUR_REVIEW = (
    "outlier score", "flagged", "given label", "true label", "predicted label", "truly noisy", "review decision")


COLOUR_GIVEN_VALUE, COLOUR_RESIDUAL = "given value", "residual (predicted − given)"


def colour_options(truth_known: bool, task: str = "classification") -> list[str]:
    """What a map can be coloured by; truth-based options only when the truth is known; a regression run's values
    instead of classes, no class colours for a multi-label run."""
    if task != "classification":
        values = [COLOUR_GIVEN_VALUE, COLOUR_RESIDUAL] if task == "regression" else []
        return [COLOUR_SCORE, COLOUR_FLAGGED, *values, *([COLOUR_NOISY] if truth_known else []), COLOUR_REVIEW]
    options = [COLOUR_SCORE, COLOUR_FLAGGED, COLOUR_GIVEN, COLOUR_PRED]
    if truth_known:
        options += [COLOUR_TRUE, COLOUR_NOISY]
    return options + [COLOUR_REVIEW]


def colour_values(frame: pd.DataFrame, option: str, names: Sequence[str], *, score_column: str,
                  flagged: np.ndarray, decisions: np.ndarray | None = None
                  ) -> tuple[np.ndarray, Sequence[str] | None, str]:
    """(values, categories or None for continuous, legend title) for `scatter_figure`."""
    if option == COLOUR_SCORE:
        return frame[score_column].to_numpy(np.float64), None, score_column.removeprefix(schema.SCORE_PREFIX)
    if option == COLOUR_FLAGGED:
        return flagged.astype(np.int64), ("no", "yes"), "flagged"
    if option in (COLOUR_GIVEN_VALUE, COLOUR_RESIDUAL):
        column = schema.GIVEN_VALUE if option == COLOUR_GIVEN_VALUE else schema.RESIDUAL_VALUE
        return frame[column].to_numpy(np.float64), None, option
    if option == COLOUR_NOISY:
        return yes_no_codes(frame[schema.IS_NOISY]), ("no", "yes", "unknown"), "truly noisy"
    if option == COLOUR_REVIEW:
        labels = ("unreviewed", MISLABELED, RELABEL, KEEP)
        decided = decisions if decisions is not None else np.full(len(frame), "", dtype=object)
        codes = np.zeros(len(frame), np.int64)
        for code, action in enumerate(labels[1:], start=1):
            codes[decided == action] = code
        return codes, labels, "review"
    column = {COLOUR_GIVEN: schema.GIVEN_LABEL, COLOUR_TRUE: schema.TRUE_LABEL, COLOUR_PRED: schema.PRED_LABEL}[option]
    return label_codes(frame[column]), list(names), option


def class_heatmap_figure(heat: np.ndarray, names: Sequence[str], method: str) -> go.Figure:
    """Mean influence of each training class (columns) on each test class (rows)."""
    figure = go.Figure(go.Heatmap(z=heat, x=list(names), y=list(names), colorscale="Viridis",
                                  colorbar={"title": "mean influence"}))
    figure.update_layout(title=f"class heat map ({method})", xaxis_title="training class (given label)",
                         yaxis_title="test class", height=420, margin={"t": 40, "b": 40})
    return figure


def pair_counts(given: np.ndarray, suggested: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, C) int64: how many samples have given label i (row) and suggested label j (column)."""
    counts = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(counts, (np.asarray(given, dtype=np.int64), np.asarray(suggested, dtype=np.int64)), 1)
    return counts


def pair_matrix_figure(counts: np.ndarray, names: Sequence[str], title: str = "") -> go.Figure:
    """Given label (rows) × suggested label (columns) counts as a heat map, one clickable point per non-empty
    cell: its customdata is `[given, suggested, count]` (`selected_pair` reads it back). The diagonal holds
    the flagged samples whose suggestion agrees with their given label."""
    labels = [str(name) for name in names]
    figure = go.Figure(go.Heatmap(z=np.where(counts > 0, counts, np.nan), x=labels, y=labels, colorscale="Oranges",
                                  colorbar={"title": "samples"}, hoverongaps=False,
                                  hovertemplate="given %{y} → suggested %{x}: %{z}<extra></extra>"))
    rows, columns = np.nonzero(counts)
    figure.add_trace(go.Scatter(
        x=[labels[c] for c in columns], y=[labels[r] for r in rows], mode="markers+text",
        text=[str(v) for v in counts[rows, columns]], textfont={"color": "#18181b"},
        customdata=np.column_stack([rows, columns, counts[rows, columns]]) if len(rows) else np.zeros((0, 3)),
        marker={"symbol": "square", "size": max(8, min(40, 400 // max(len(labels), 1))), "color": "rgba(0,0,0,0)"},
        hovertemplate="given %{y} → suggested %{x}: %{customdata[2]} sample(s)<br>click to review them<extra></extra>",
        showlegend=False, name="pairs"))
    side = 160 + 32 * min(len(labels), 30)
    figure.update_layout(title=title, xaxis_title="suggested label", yaxis_title="given label", height=side,
                         margin=dict(l=10, r=10, t=40, b=10), yaxis_autorange="reversed", clickmode="event+select",
                         dragmode=False, xaxis={"type": "category"}, yaxis={"type": "category"})
    return figure


def selected_pair(event) -> tuple[int, int] | None:
    """(given, suggested) of the cell picked in a `pair_matrix_figure` selection event, or None. customdata
    arrives as a list `[given, suggested, count]` or, from a real browser, as a dict keyed "0", "1", ..."""
    if not event:
        return None
    selection = event.get("selection") if isinstance(event, Mapping) else getattr(event, "selection", None)
    points = (selection or {}).get("points", []) if isinstance(selection, Mapping) else []
    for point in points:
        custom = point.get("customdata") if isinstance(point, Mapping) else None
        if isinstance(custom, Mapping):
            custom = [custom.get("0", custom.get(0)), custom.get("1", custom.get(1))]
        if isinstance(custom, (list, tuple, np.ndarray)) and len(custom) >= 2 and None not in custom[:2]:
            try:
                return int(float(custom[0])), int(float(custom[1]))
            except (TypeError, ValueError):
                continue
    return None


def budget_figure(curve: pd.DataFrame, suggested: Mapping | None, budget: float) -> go.Figure:
    """Estimated precision and recall against budget k (`curve`: budget, precision, recall, and when the truth is
    known true_precision / true_recall, dotted), the suggested budget as a line inside its interval band, and the
    current k as a dashed line."""
    figure = go.Figure()
    x = curve["budget"].to_numpy() * 100
    for column, name, colour, dash in (("precision", "estimated precision", "#1f77b4", None),
                                       ("recall", "estimated recall", "#ff7f0e", None),
                                       ("true_precision", "true precision", "#1f77b4", "dot"),
                                       ("true_recall", "true recall", "#ff7f0e", "dot")):
        if column in curve:
            figure.add_trace(go.Scatter(x=x, y=curve[column], mode="lines", name=name,
                                        line=dict(color=colour, dash=dash),
                                        hovertemplate=f"k %{{x:.1f}}%: {name} %{{y:.3f}}<extra></extra>"))
    if suggested:
        figure.add_vrect(x0=suggested["low"] * 100, x1=suggested["high"] * 100, fillcolor="#16a34a", opacity=0.12,
                         line_width=0)
        figure.add_vline(x=suggested["value"] * 100, line_color="#16a34a",
                         annotation_text=f"suggested {suggested['value']:.1%}", annotation_position="top left")
    figure.add_vline(x=budget * 100, line_dash="dash", line_color="#52525b", annotation_text=f"k = {budget:.1%}",
                     annotation_position="bottom right")
    figure.update_layout(xaxis_title="budget k (% of training samples flagged)", yaxis_title="", yaxis_range=[0, 1.02],
                         height=320, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.25))
    return figure


def agreement_matrix_figure(agreement: pd.DataFrame, shared: pd.DataFrame) -> go.Figure:
    """Annotator × annotator heat map of how often two annotators agree on the samples both decided
    (core.review.team_stats.pairwise_agreement); each cell's text is the fraction and, below it, how many samples
    it rests on. Empty cells (no sample in common) stay blank."""
    values = agreement.to_numpy(dtype=np.float64)
    counts = shared.to_numpy(dtype=np.int64)
    text = [[("" if np.isnan(v) else f"{v:.0%}<br>n={n}") for v, n in zip(row, count)]
            for row, count in zip(values, counts)]
    names = [str(name) for name in agreement.columns]
    figure = go.Figure(go.Heatmap(z=values, x=names, y=names, zmin=0, zmax=1, colorscale="Greens", text=text,
                                  texttemplate="%{text}", hoverongaps=False, colorbar={"title": "agree"},
                                  customdata=counts,
                                  hovertemplate="%{y} and %{x}: %{z:.0%} of %{customdata} shared sample(s)"
                                                "<extra></extra>"))
    figure.update_layout(height=140 + 48 * len(names), margin=dict(l=10, r=10, t=30, b=10),
                         yaxis_autorange="reversed", xaxis={"type": "category"}, yaxis={"type": "category"})
    return figure


def given_vs_predicted_figure(given: np.ndarray, predicted: np.ndarray, flagged: np.ndarray, sample_ids: np.ndarray,
                              name: str = "value") -> go.Figure:
    """A regression run's given value (x) against the model's prediction (y), the flagged samples in red, with the
    y = x diagonal: what the class matrix shows for classes (a point far from the diagonal: a suspect value)."""
    given, predicted = np.asarray(given, np.float64), np.asarray(predicted, np.float64)
    flagged = np.asarray(flagged, bool)
    figure = go.Figure()
    for mask, label, colour in ((~flagged, "not flagged", "#9aa5b1"), (flagged, "flagged", "#d62728")):
        figure.add_trace(go.Scattergl(
            x=given[mask], y=predicted[mask], mode="markers", name=label, customdata=np.asarray(sample_ids)[mask],
            marker={"size": 5 if label == "not flagged" else 7, "color": colour},
            hovertemplate="#%{customdata}<br>given %{x:.4g}<br>predicted %{y:.4g}<extra></extra>"))
    if len(given):
        low = float(np.nanmin([given.min(), predicted.min()]))
        high = float(np.nanmax([given.max(), predicted.max()]))
        figure.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="predicted = given",
                                    line={"color": "#444", "dash": "dot"}, hoverinfo="skip"))
    figure.update_layout(xaxis_title=f"given {name}", yaxis_title=f"predicted {name}", height=420,
                         margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure
