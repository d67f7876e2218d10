"""Which columns of a Hugging Face dataset are the inputs and which the labels, read from their feature types.

`FEATURE_KINDS` is the table: each entry names a kind of column, whether it can be the inputs or
the labels, which feature types it matches and, for labels, the task it implies (core.tasks):
`ClassLabel`, integer and string columns classification, `Sequence(ClassLabel)` (`List(ClassLabel)`
in datasets >= 4) multilabel, `Value("float*")` regression. A label kind whose task is not in
`SUPPORTED_TASKS` is refused with a one-line error naming the column. `--task` may read an integer
column as targets, a string column as `|`-joined tag sets, or a float column of whole numbers as
classes (`TASK_READINGS`); anything else it asks for is refused in one line.

`choose_columns` picks the label column (`--label-column`, else the one ClassLabel or
multi-label column, else the one named label, labels, class or target) and the input
columns (`--input-column`, else the one Image column, else the one text column, else the one
numeric-vector column, else every numeric column), refusing ambiguity and emptiness in one
line that lists the candidates or every column with its feature type.

Feature types are matched by class name and dtype, so this module imports neither `datasets` nor numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError

INPUT, LABEL = "input", "label"
IMAGES, TEXTS, CLASS_LABEL, MULTI_LABEL_KIND = "image", "text", "class label", "multi-label"
"""Names of the FEATURE_KINDS entries the loader treats specially."""
CLASSIFICATION, MULTI_LABEL, REGRESSION = "classification", "multilabel", "regression"
SUPPORTED_TASKS = frozenset({CLASSIFICATION, MULTI_LABEL, REGRESSION})
"""Label tasks the engine analyses (core.tasks.registry TASKS)."""
TRUE_LABEL = "true_label"
TRUTH_COLUMNS = (TRUE_LABEL, "true_labels", "true_target")
"""Columns of clean labels (same type as the label column): the truth detection is scored against."""
LABEL_NAMES = ("label", "labels", "class", "target")
"""Column names taken as the labels when no ClassLabel column says so."""
NOT_INPUTS = frozenset({*TRUTH_COLUMNS, "id", "idx", "sample_id", "split"})
"""Columns never picked as inputs unless named by --input-column."""
LIST_TYPES = frozenset({"List", "LargeList", "Sequence"})
TEXT_DTYPES = frozenset({"string", "large_string"})
FLOAT_PREFIX = "float"
NUMERIC_PREFIXES = ("int", "uint", "float", "bool")


def _type(feature: Any) -> str:
    return type(feature).__name__


def _dtype(feature: Any) -> str:
    return str(getattr(feature, "dtype", "")) if _type(feature) == "Value" else ""


def _inner(feature: Any) -> Any:
    """The element feature of a list-like feature, else None."""
    return getattr(feature, "feature", None) if _type(feature) in LIST_TYPES else None


def is_image(feature: Any) -> bool:
    return _type(feature) == "Image"


def is_text(feature: Any) -> bool:
    return _dtype(feature) in TEXT_DTYPES


def is_numeric(feature: Any) -> bool:
    return _dtype(feature).startswith(NUMERIC_PREFIXES)


def is_integer(feature: Any) -> bool:
    return _dtype(feature).startswith(("int", "uint"))


def is_float(feature: Any) -> bool:
    return _dtype(feature).startswith(FLOAT_PREFIX)


def is_class_label(feature: Any) -> bool:
    return _type(feature) == "ClassLabel"


def is_numeric_vector(feature: Any) -> bool:
    return is_numeric(_inner(feature))


def is_multi_label(feature: Any) -> bool:
    return is_class_label(_inner(feature))


@dataclass(frozen=True)
class FeatureKind:
    """One kind of column: what role it can play and which feature types it matches."""

    name: str
    role: str
    """INPUT or LABEL."""
    matches: Callable[[Any], bool]
    task: str | None = None
    """Labels: the task the column implies (classification, multi-label, regression)."""
    single: bool = True
    """Inputs: True when one such column is the whole input (several are ambiguous); False when every such
    column is one feature of the input (numeric columns)."""


FEATURE_KINDS: tuple[FeatureKind, ...] = (
    FeatureKind(IMAGES, INPUT, is_image),
    FeatureKind(TEXTS, INPUT, is_text),
    FeatureKind("numeric vector", INPUT, is_numeric_vector),
    FeatureKind("numeric", INPUT, is_numeric, single=False),
    FeatureKind(CLASS_LABEL, LABEL, is_class_label, CLASSIFICATION),
    FeatureKind(MULTI_LABEL_KIND, LABEL, is_multi_label, MULTI_LABEL),
    FeatureKind("integer label", LABEL, is_integer, CLASSIFICATION),
    FeatureKind("string label", LABEL, is_text, CLASSIFICATION),
    FeatureKind("regression target", LABEL, is_float, REGRESSION),
)
"""In order of preference: inputs are picked by the first kind any column matches; a column's label kind is
the first label entry it matches."""
DECLARED_LABELS = frozenset({CLASS_LABEL, MULTI_LABEL_KIND})
TASK_READINGS = {"integer label": (REGRESSION,), "string label": (MULTI_LABEL,), "regression target": (CLASSIFICATION,)}
"""The other tasks `--task` may read a label kind as: integers as targets, texts as `|`-joined tag sets, whole-number
floats as classes."""
"""Label kinds that say "I am the labels" by their type alone, whatever the column's name."""


def kind_of(feature: Any, role: str) -> FeatureKind | None:
    """The first entry of `FEATURE_KINDS` with this role that matches `feature`, else None."""
    return next((kind for kind in FEATURE_KINDS if kind.role == role and kind.matches(feature)), None)


def describe(feature: Any) -> str:
    """A feature type as error messages show it: Image, Value(string), ClassLabel(3 names), List(Value(int64))."""
    if _type(feature) == "Value":
        return f"Value({_dtype(feature)})"
    if is_class_label(feature):
        return f"ClassLabel({len(feature.names)} names)"
    if _inner(feature) is not None:
        return f"{_type(feature)}({describe(_inner(feature))})"
    return _type(feature)


def _same_type(a: Any, b: Any) -> bool:
    """Same feature type, and for ClassLabels the same class names in the same order."""
    return describe(a) == describe(b) and getattr(_inner(a) or a, "names", None) == getattr(_inner(b) or b, "names",
                                                                                              None)


def _columns(features: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} ({describe(feature)})" for name, feature in features.items()) or "none"


@dataclass(frozen=True)
class Columns:
    """The chosen columns and why: the label column and its kind, the input columns and their kind."""

    label: str
    label_kind: FeatureKind
    inputs: tuple[str, ...]
    input_kind: FeatureKind
    truth: str | None
    """The truth column (`true_label`, `true_labels` or `true_target`) when there is one."""
    ignored: tuple[str, ...]
    task: str = CLASSIFICATION
    """The task the labels are read as: the label kind's, or the one `--task` asked for."""


def _label(features: Mapping[str, Any], where: str, named: str | None, input_named: str | None) -> str:
    if named is not None:
        if named not in features:
            raise ConfigError(f"{where}: no column {named!r} (--label-column); columns: {_columns(features)}")
        if kind_of(features[named], LABEL) is None:
            raise ConfigError(f"{where}: column {named!r} ({describe(features[named])}) cannot hold labels; "
                              "labels are a ClassLabel, integer, string, Sequence(ClassLabel) or float column")
        return named
    candidates = {name: f for name, f in features.items() if name not in (*TRUTH_COLUMNS, input_named)}
    declared = [name for name, f in candidates.items()
                if getattr(kind_of(f, LABEL), "name", None) in DECLARED_LABELS]
    chosen = declared or [name for name, f in candidates.items()
                          if name.lower() in LABEL_NAMES and kind_of(f, LABEL) is not None]
    if len(chosen) > 1:
        listed = ", ".join(f"{name} ({describe(features[name])})" for name in chosen)
        raise ConfigError(f"{where}: several columns could be the labels: {listed}; pick one with --label-column")
    if not chosen:
        raise ConfigError(f"{where}: no column fits as the labels (a ClassLabel or Sequence(ClassLabel) column, or "
                          f"an integer, string or float column named {', '.join(LABEL_NAMES)}); columns: "
                          f"{_columns(features)}; name one with --label-column")
    return chosen[0]


def _inputs(features: Mapping[str, Any], where: str, named: str | None,
            label: str) -> tuple[tuple[str, ...], FeatureKind]:
    if named is not None:
        if named not in features:
            raise ConfigError(f"{where}: no column {named!r} (--input-column); columns: {_columns(features)}")
        kind = kind_of(features[named], INPUT)
        if kind is None:
            raise ConfigError(f"{where}: column {named!r} ({describe(features[named])}) cannot be the inputs; "
                              "inputs are an Image, text or numeric column")
        return (named,), kind
    candidates = {name: f for name, f in features.items() if name != label and name.lower() not in NOT_INPUTS}
    for kind in (k for k in FEATURE_KINDS if k.role == INPUT):
        matching = tuple(name for name, f in candidates.items() if kind.matches(f))
        if len(matching) > 1 and kind.single:
            raise ConfigError(f"{where}: several {kind.name} columns could be the inputs: {', '.join(matching)}; "
                              "pick one with --input-column")
        if matching:
            return matching, kind
    raise ConfigError(f"{where}: no column fits as the inputs (an Image, text or numeric column besides the labels "
                      f"{label!r}); columns: {_columns(features)}; name one with --input-column")


def choose_columns(features: Mapping[str, Any], where: str, label_column: str | None = None,
                   input_column: str | None = None, task: str | None = None) -> Columns:
    """The label and input columns of a dataset with these features (column name -> `datasets` feature), and
    the task its labels are read as (`task`, `--task`, when the label kind allows it: `TASK_READINGS`).

    Raises ConfigError (one line, naming `where`) when nothing fits, when several columns fit
    equally, when a named column is missing or of the wrong type, when the labels are of a
    task not analysed, or when `task` does not fit them.
    """
    if input_column is not None:
        _inputs(features, where, input_column, "")
    label = _label(features, where, label_column, input_column)
    label_kind = kind_of(features[label], LABEL)
    if label_kind.task not in SUPPORTED_TASKS:
        raise ConfigError(f"{where}: label column {label!r} is {describe(features[label])}, a {label_kind.task} "
                          f"target; {label_kind.task} datasets are not supported")
    readings = TASK_READINGS.get(label_kind.name, ())
    if task is not None and task != label_kind.task and task not in readings:
        also = f" or {' or '.join(readings)}" if readings else ""
        raise ConfigError(f"{where}: --task {task} does not fit label column {label!r} ({describe(features[label])}), "
                          f"which makes a {label_kind.task}{also} dataset")
    inputs, input_kind = _inputs(features, where, input_column, label)
    present = [c for c in TRUTH_COLUMNS if c in features and c != label]
    if len(present) > 1:
        raise ConfigError(f"{where}: several truth columns: {', '.join(present)}; keep one")
    truth = present[0] if present else None
    if truth is not None and not _same_type(features[truth], features[label]):
        raise ConfigError(f"{where}: column {truth!r} ({describe(features[truth])}) must hold the same classes as "
                          f"the label column {label!r} ({describe(features[label])})")
    ignored = tuple(name for name in features if name not in (label, truth, *inputs))
    return Columns(label, label_kind, inputs, input_kind, truth, ignored, task or label_kind.task)


def check_test_columns(train: Mapping[str, Any], test: Mapping[str, Any], columns: Columns, where: str) -> None:
    """ConfigError unless the test split (features `test`) has the chosen columns, labels of the same type
    and classes as the analysed split's (`train`)."""
    wanted = [c for c in (columns.label, columns.truth, *columns.inputs) if c is not None]
    missing = [c for c in wanted if c not in test]
    if missing:
        raise ConfigError(f"{where}: lacks the column(s) {', '.join(missing)} that the analysed split has")
    for column in (columns.label, columns.truth):
        if column is not None and not _same_type(train[column], test[column]):
            raise ConfigError(f"{where}: column {column!r} is {describe(test[column])} with other classes than in "
                              f"the analysed split ({describe(train[column])})")
