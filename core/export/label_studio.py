"""`gradsift export --format label-studio`: tasks with gradsift's suggestion as a prediction, and their config.

Writes two files: `<out>` (a JSON list of Label Studio tasks, importable through the UI or
`POST /api/projects/<id>/import`) and `<out stem>.label_config.xml` (the labeling config to
create the project with). Following Label Studio's documented task format, each task is

    {"data": {"image": ..., "sample_id": 17, "given_label": "cat", ...},
     "predictions": [{"model_version": "gradsift", "score": 0.71,
                      "result": [{"id": "s17", "from_name": "label", "to_name": "image",
                                  "type": "choices", "value": {"choices": ["dog"]}}]}]}

`data.image` is a `data:image/png;base64,` URI of the run's thumbnail (at most 64 px a
side) unless `--image-root` is given for a run on an image folder or file manifest: then it
is `/data/local-files/?d=<path relative to the root>`, served by Label Studio's local-files
storage when it runs with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and
LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<the same root>. Tabular runs put the feature values
in `data.text` (`name: value` lines) and the config shows them with `<Text>`. The
prediction's score is the primary detector's (higher = more outlying); tasks come most
outlying first. `core.export.review_files` reads the annotated export back.

Multi-label runs: the control is `<Choices name="label" choice="multiple">` (one `Choice` per tag) and the
prediction's `choices` is the suggested tag set. Regression runs: the control is `<Number name="value">` (Label
Studio's Number tag; `step` the given values' finest decimal) and the prediction is
`{"type": "number", "value": {"number": <suggested value>}}`; `data` carries the given, predicted and suggested
values with the suggestion's interval.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from core.errors import ConfigError
from core.export.files import refuse_existing, sidecar, write_new
from core.export.images import data_uri
from core.export.source import REVIEW, SCORE, ExportSource, Written
from core.run import schema

MODEL_VERSION = "gradsift"
CONTROL, IMAGE_OBJECT, TEXT_OBJECT = "label", "image", "text"
"""Names in the labeling config: the Choices control and the object it labels."""
VALUE_CONTROL = "value"
"""The Number control of a regression run."""
CONFIG_SUFFIX = ".label_config.xml"
LOCAL_FILES_PREFIX = "/data/local-files/?d="


SMALL_IMAGE_VIEW = ' smoothing="false" maxWidth="320px"'
"""Embedded thumbnails are tiny: shown sharp (no interpolation) and small enough to keep the choices in view."""


def label_config(class_names: list[str], image: bool, small_images: bool = False, task: str = "classification",
                 step: str = "1") -> str:
    """The labeling config: the sample (an image, or its features as text), a header with what gradsift
    says about it, and one single-choice `Choice` per class (multi-label: `choice="multiple"`, one per tag;
    regression: a `Number` control with `step`)."""
    obj = IMAGE_OBJECT if image else TEXT_OBJECT
    extra = SMALL_IMAGE_VIEW if small_images else ""
    view = f'  <Image name="{obj}" value="${obj}"{extra}/>' if image else f'  <Text name="{obj}" value="${obj}"/>'
    if task == "regression":
        control = f'  <Number name="{VALUE_CONTROL}" toName="{obj}" step={quoteattr(step)} required="true"/>\n'
        return f'<View>\n  <Header value="$summary"/>\n{view}\n{control}</View>\n'
    choices = "\n".join(f"    <Choice value={quoteattr(name)}/>" for name in class_names)
    kind = "multiple" if task == "multilabel" else "single"
    return (f'<View>\n  <Header value="$summary"/>\n{view}\n'
            f'  <Choices name="{CONTROL}" toName="{obj}" choice="{kind}" showInline="true">\n{choices}\n'
            "  </Choices>\n</View>\n")


def value_step(values: np.ndarray, finest: int = 6) -> str:
    """The Number control's step: 10^-d for the fewest decimals d (≤ `finest`) that write every value exactly."""
    values = np.asarray(values, np.float64)
    for decimals in range(finest + 1):
        if np.allclose(np.round(values, decimals), values, rtol=0, atol=1e-9):
            return "1" if decimals == 0 else f"{10.0 ** -decimals:.{decimals}f}"
    return f"{10.0 ** -finest:.{finest}f}"


def local_file_urls(source: ExportSource, ids: np.ndarray, image_root: Path) -> list[str]:
    """`/data/local-files/?d=...` URLs of the samples' files, relative to `image_root`."""
    files = source.sample_files(ids)
    if files is None:
        raise ConfigError(f"--image-root needs a run on an image folder or a manifest with a path column; "
                          f"{source.run.path} analyzed {source.config.data.dataset!r}"
                          + (" (test samples have no files)" if source.split == "test" else ""))
    root = image_root.expanduser().resolve()
    urls = []
    for file in files:
        try:
            relative = file.resolve().relative_to(root)
        except ValueError:
            raise ConfigError(f"--image-root {image_root}: sample file {file} is not under it; give the "
                              "directory Label Studio serves (LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT)") from None
        urls.append(LOCAL_FILES_PREFIX + quote(relative.as_posix(), safe="/"))
    return urls


def _finite(value: float) -> float | None:
    """JSON has no NaN: a missing number is null."""
    return float(value) if np.isfinite(value) else None


def _summary(source: ExportSource, row: pd.Series) -> str:
    if source.task != "classification":
        return _kind_summary(source, row) + (f" · already reviewed: {row[REVIEW]}" if row[REVIEW] else "")
    text = (f"sample {int(row[schema.SAMPLE_ID])} · given label: {source.name(row[schema.GIVEN_LABEL])} · "
            f"gradsift suggests: {source.name(row[schema.SUGGESTED_LABEL])} · score {row[SCORE]:.4g}")
    return text + (f" · already reviewed: {row[REVIEW]}" if row[REVIEW] else "")


def tasks(source: ExportSource, rows: pd.DataFrame, image_root: Path | None = None) -> list[dict]:
    """One Label Studio task per row of `rows` (an `ExportSource.select` frame)."""
    ids = rows[schema.SAMPLE_ID].to_numpy(dtype=np.int64)
    if source.is_image:
        obj = IMAGE_OBJECT
        if image_root is not None:
            values = local_file_urls(source, ids, image_root)
        else:
            thumbnails = source.thumbnails()
            values = [data_uri(thumbnails[i]) for i in ids]
    else:
        if image_root is not None:
            raise ConfigError(f"--image-root applies to image runs; {source.run.path} is not one")
        obj = TEXT_OBJECT
        texts = source.texts()
        if texts is not None:
            values = [texts[i] for i in ids]
        else:
            from core.export.features import as_text, split_features

            names, features = split_features(source)
            values = [as_text(names, features[i]) for i in ids]
    if source.task != "classification":
        return [_kind_task(source, obj, value, row) for value, (_, row) in zip(values, rows.iterrows())]
    out = []
    for value, (_, row) in zip(values, rows.iterrows()):
        sample_id = int(row[schema.SAMPLE_ID])
        suggested = source.name(row[schema.SUGGESTED_LABEL])
        score = float(row[SCORE])
        out.append({
            "data": {
                obj: value,
                "sample_id": sample_id,
                "given_label": source.name(row[schema.GIVEN_LABEL]),
                "suggested_label": suggested,
                "score": _finite(score),
                "flagged": bool(row[schema.IS_FLAGGED]),
                "review": str(row[REVIEW]),
                "source": str(row[schema.SOURCE]),
                "split": source.split,
                "summary": _summary(source, row),
                **({"suggestion_confidence": _finite(row[schema.SUGGESTED_LABEL_CONFIDENCE])}
                   if schema.SUGGESTED_LABEL_CONFIDENCE in rows.columns else {}),
            },
            "predictions": [{
                "model_version": MODEL_VERSION,
                "score": score if np.isfinite(score) else 0.0,
                "result": [{"id": f"s{sample_id}", "from_name": CONTROL, "to_name": obj, "type": "choices",
                            "value": {"choices": [suggested]}}],
            }],
        })
    return out


def _tag_names(source: ExportSource, tags) -> list[str]:
    return [source.class_names[int(t)] for t in tags]


def _kind_summary(source: ExportSource, row: pd.Series) -> str:
    head = f"sample {int(row[schema.SAMPLE_ID])} · "
    if source.task == "multilabel":
        given = ", ".join(_tag_names(source, row[schema.GIVEN_TAGS])) or "(no tag)"
        suggested = ", ".join(_tag_names(source, row[schema.SUGGESTED_TAGS])) or "(no tag)"
        return head + f"given tags: {given} · gradsift suggests: {suggested} · score {row[SCORE]:.4g}"
    return head + (f"given value: {row[schema.GIVEN_VALUE]:.6g} · predicted {row[schema.PRED_VALUE]:.6g} · "
                   f"gradsift suggests: {row[schema.SUGGESTED_VALUE]:.6g} [{row[schema.SUGGESTED_LOW]:.6g}, "
                   f"{row[schema.SUGGESTED_HIGH]:.6g}] · score {row[SCORE]:.4g}")


def _kind_task(source: ExportSource, obj: str, value: str, row: pd.Series) -> dict:
    """One task of a multilabel or regression run (module docstring)."""
    sample_id = int(row[schema.SAMPLE_ID])
    score = float(row[SCORE])
    data = {obj: value, "sample_id": sample_id, "score": _finite(score), "flagged": bool(row[schema.IS_FLAGGED]),
            "review": str(row[REVIEW]), "source": str(row[schema.SOURCE]), "split": source.split,
            "summary": _summary(source, row)}
    if source.task == "multilabel":
        data["given_tags"] = _tag_names(source, row[schema.GIVEN_TAGS])
        data["suggested_tags"] = _tag_names(source, row[schema.SUGGESTED_TAGS])
        data["suggestion_confidence"] = [_finite(c) for c in row[schema.SUGGESTED_TAG_CONFIDENCE]]
        result = {"id": f"s{sample_id}", "from_name": CONTROL, "to_name": obj, "type": "choices",
                  "value": {"choices": data["suggested_tags"]}}
    else:
        for name in (schema.GIVEN_VALUE, schema.PRED_VALUE, schema.SUGGESTED_VALUE, schema.SUGGESTED_LOW,
                     schema.SUGGESTED_HIGH):
            data[name] = _finite(row[name])
        result = {"id": f"s{sample_id}", "from_name": VALUE_CONTROL, "to_name": obj, "type": "number",
                  "value": {"number": _finite(row[schema.SUGGESTED_VALUE])}}
    return {"data": data, "predictions": [{"model_version": MODEL_VERSION,
                                           "score": score if np.isfinite(score) else 0.0, "result": [result]}]}


def export(source: ExportSource, out: Path, only: str, image_root: Path | None = None) -> Written:
    """Write the tasks JSON to `out` and the labeling config beside it; both are refused if they exist."""
    if out.suffix.lower() != ".json":
        raise ConfigError(f"--out {out}: a Label Studio tasks file must end in .json")
    config_path = sidecar(out, CONFIG_SUFFIX)
    refuse_existing(out, config_path)
    rows = source.select(only)
    payload = json.dumps(tasks(source, rows, image_root), indent=1, ensure_ascii=False, allow_nan=False)
    step = value_step(source.table[schema.GIVEN_VALUE].to_numpy()) if source.task == "regression" else "1"
    config = label_config(source.class_names, source.is_image, small_images=image_root is None, task=source.task,
                          step=step)
    write_new(config_path, config.encode())
    try:
        write_new(out, payload.encode())
    except BaseException:
        config_path.unlink()  # both files or neither
        raise
    return Written([out, config_path], len(rows), "Label Studio tasks")
