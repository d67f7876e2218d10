"""Hugging Face datasets as input: `hf:NAME[:CONFIG][@SPLIT]` from the Hub, or a folder `save_to_disk` wrote.

`hf:NAME[:CONFIG][@SPLIT]` calls `datasets.load_dataset(NAME, CONFIG)` (which downloads and
caches on the user's machine); a folder holding `dataset_dict.json` (a DatasetDict) or
`dataset_info.json` + `state.json` (a Dataset) is read with `datasets.load_from_disk`
(`FOLDER@SPLIT` picks a split of a saved DatasetDict). `datasets` is imported only here, and
only when such a dataset is loaded.

Splits: of a DatasetDict, `train` (or @SPLIT) is analysed and `test`, when present and not the
analysed split, is the test set; otherwise (and for a single Dataset) a seeded stratified
`data.test_fraction` test split is carved, as for a manifest. A `test` split whose labels are all
missing (-1, as on many Hub test sets) is set aside with a note and a split is carved.
Columns are chosen by feature type (core.data.hf_columns): Image → images, a text column →
texts, numeric columns → features; ClassLabel, integer or string labels → classes, a ClassLabel's
names kept in its order (classes without any sample dropped); `Sequence(ClassLabel)` (`List` in
datasets >= 4) → tag sets over its names, all kept (an empty list: no tag applies); `Value("float*")`
→ regression targets (missing or NaN values refused). `--task` reads an integer column as targets,
a string column as `|`-joined tags, a float column of whole numbers as classes. A `true_label`
(or `true_labels`, `true_target`) column is the truth.
`source` of a sample: `<hf:NAME or folder>@<split> row <N>`, N its row in that split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.config import DataConfig
from core.data.base import IMAGE, TABULAR, Dataset
from core.data.folder import ImageSource, read_images
from core.data.hf_columns import CLASS_LABEL, IMAGES, TEXTS, Columns, check_test_columns, choose_columns
from core.data.manifest import encode_labels
from core.data.split import carve_test_split, split_note
from core.data.task_labels import MULTILABEL, REGRESSION, encode_tags, listing, parse_targets
from core.data.text import check_texts, text_dataset
from core.errors import ConfigError, DataError

HF_PREFIX = "hf:"
TRAIN, TEST = "train", "test"
DICT_FILE = "dataset_dict.json"
DATASET_FILES = ("dataset_info.json", "state.json")


@dataclass(frozen=True)
class HubSpec:
    """A parsed `hf:NAME[:CONFIG][@SPLIT]`."""

    name: str
    config: str | None = None
    split: str | None = None


def parse_spec(spec: str) -> HubSpec:
    """`hf:NAME[:CONFIG][@SPLIT]` -> HubSpec; ConfigError when a part is empty or the prefix is missing."""
    if not spec.startswith(HF_PREFIX):
        raise ConfigError(f"{spec!r}: a Hugging Face dataset is written hf:NAME[:CONFIG][@SPLIT]")
    rest, at, split = spec[len(HF_PREFIX):].partition("@")
    name, colon, config = rest.partition(":")
    if not name or (colon and not config) or (at and not split):
        raise ConfigError(f"{spec!r}: a Hugging Face dataset is written hf:NAME[:CONFIG][@SPLIT], "
                          "e.g. hf:imdb, hf:glue:sst2@validation")
    return HubSpec(name, config or None, split or None)


def is_saved_dataset(path: Path) -> bool:
    """True for a folder `Dataset.save_to_disk` or `DatasetDict.save_to_disk` wrote (told apart from an
    image-class folder by the dataset metadata files)."""
    path = Path(path)
    return path.is_dir() and ((path / DICT_FILE).is_file() or all((path / f).is_file() for f in DATASET_FILES))


def saved_dataset_split(spec: str) -> tuple[Path, str] | None:
    """(folder, split) when `spec` is `FOLDER@SPLIT` of a saved dataset folder, else None."""
    folder, at, split = spec.rpartition("@")
    path = Path(folder).expanduser()
    return (path, split) if at and split and folder and is_saved_dataset(path) else None


def load_hub(cfg: DataConfig, seed: int) -> Dataset:
    """The `hf:` dataset `cfg.dataset` names, downloaded (and cached) by `datasets.load_dataset`."""
    spec = parse_spec(cfg.dataset)
    import datasets

    try:
        loaded = datasets.load_dataset(spec.name, spec.config)
    except Exception as exc:  # the Hub, the network and dataset scripts raise many unrelated types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DataError(f"{cfg.dataset}: could not download the Hugging Face dataset {spec.name!r} "
                        f"({type(exc).__name__}: {reason[:200]}); on a machine that can reach the Hub, save it with "
                        "load_dataset(...).save_to_disk(FOLDER) and pass that folder as --dataset") from None
    shown = HF_PREFIX + spec.name + (f":{spec.config}" if spec.config else "")
    name = spec.name.rsplit("/", 1)[-1] + (f"-{spec.config}" if spec.config else "")
    return from_loaded(loaded, name, shown, spec.split, cfg, seed)


def load_saved(path: Path, cfg: DataConfig, seed: int, split: str | None = None) -> Dataset:
    """The dataset a `save_to_disk` folder holds (`split`: which split of a saved DatasetDict)."""
    import datasets

    path = Path(path)
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # a damaged folder fails inside pyarrow/fsspec with many types
        raise DataError(f"{path}: cannot read the saved Hugging Face dataset ({type(exc).__name__}: "
                        f"{str(exc).strip()[:200]})") from None
    return from_loaded(loaded, path.resolve().name or str(path), str(path), split, cfg, seed)


def _splits(loaded: Any, shown: str, split: str | None) -> tuple[str, Any, Any | None]:
    """(analysed split name, that split, the test split or None) of a Dataset or DatasetDict."""
    if not hasattr(loaded, "keys"):
        if split is not None and split != str(getattr(loaded, "split", None) or ""):
            raise ConfigError(f"{shown}: is a single split (a Dataset), so @{split} picks nothing; drop @{split}")
        return str(getattr(loaded, "split", None) or TRAIN), loaded, None
    names = list(loaded.keys())
    chosen = split or TRAIN
    if chosen not in names:
        raise ConfigError(f"{shown}: has no split {chosen!r}; splits: {', '.join(names)}; pick one with @SPLIT")
    test = loaded[TEST] if TEST in names and chosen != TEST else None
    return chosen, loaded[chosen], test


def _column(part: Any, column: str) -> list:
    """A column's raw values as python objects (an Image column: {'bytes', 'path'} dicts, nothing decoded)."""
    return part.with_format("arrow")[column].to_pylist()


def _missing_rows(values: list, class_label: bool, empty_text: bool = False) -> list[int]:
    """Rows without a label: None, NaN, a ClassLabel's -1, an empty text (unless `empty_text`: an empty tag set)."""
    return [i for i, v in enumerate(values)
            if v is None or (class_label and v == -1) or (isinstance(v, float) and np.isnan(v))
            or (isinstance(v, str) and not v.strip() and not empty_text)]


def _raw_labels(part: Any, column: str, class_label: bool, where: str, empty_text: bool = False) -> list:
    values = _column(part, column)
    missing = _missing_rows(values, class_label, empty_text)
    if missing:
        raise DataError(f"{where}: label column {column!r} has {len(missing)} missing values, in rows "
                        f"{listing(missing)}")
    return values


def _tag_sets(raw: dict, feature: Any, where: dict[str, str]) -> tuple[dict, list[str]]:
    """{(part, column): (n, C) uint8} tag indicators of `Sequence(ClassLabel)` values (lists of tag indices), or of
    texts read as tags (`--task multilabel`), and the tag names (a Sequence(ClassLabel)'s, all kept)."""
    names = getattr(getattr(feature, "feature", None), "names", None)
    if names is None:
        shared = {f"{part}/{col}": values for (part, col), values in raw.items()}
        codes, tags = encode_tags(shared, where[TRAIN])
        return {key: codes[f"{key[0]}/{key[1]}"] for key in raw}, tags
    out = {}
    for (part, col), values in raw.items():
        indicators = np.zeros((len(values), len(names)), dtype=np.uint8)
        for row, tags in enumerate(values):
            if any(t is None or not 0 <= t < len(names) for t in tags):
                raise DataError(f"{where[part]}: column {col!r} row {row} holds tag indices outside the {len(names)} "
                                f"tag names: {tags}")
            indicators[row, list(tags)] = 1
        out[(part, col)] = indicators
    return out, [str(n) for n in names]


def _encode(parts: dict[str, Any], columns: Columns, feature: Any, where: dict[str, str]) -> tuple[dict, list[str]]:
    """{(part, column): labels in the task's form} for the label and truth columns, and the class names: classes
    (unused dropped), tags, or the target column's name."""
    class_label = columns.label_kind.name == CLASS_LABEL
    raw = {(part, col): _raw_labels(data, col, class_label, where[part], columns.task == MULTILABEL)
           for part, data in parts.items() for col in (columns.label, columns.truth) if col is not None}
    if columns.task == MULTILABEL:
        return _tag_sets(raw, feature, where)
    if columns.task == REGRESSION:
        return {key: parse_targets(values, where[key[0]], key[1]) for key, values in raw.items()}, [columns.label]
    if class_label:
        codes = {key: np.asarray(values, dtype=np.int64) for key, values in raw.items()}
        names = list(feature.names)
        bad = [key for key, c in codes.items() if len(c) and (c.min() < 0 or c.max() >= len(names))]
        if bad:
            part, col = bad[0]
            raise DataError(f"{where[part]}: column {col!r} holds values outside the {len(names)} class names")
    else:
        flat, shared = encode_labels({"labels": np.asarray([v for vs in raw.values() for v in vs], dtype=object)},
                                     where[TRAIN])
        bounds = np.cumsum([0] + [len(vs) for vs in raw.values()])
        codes = {key: flat["labels"][bounds[i]:bounds[i + 1]] for i, key in enumerate(raw)}
        names = shared
    used = np.unique(np.concatenate(list(codes.values())))
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return {key: remap[c] for key, c in codes.items()}, [str(names[i]) for i in used]


def _image_sources(part: Any, column: str, where: str) -> tuple[list[ImageSource], list[str]]:
    """Each row's encoded image bytes (or local file) and its name in messages; nothing decoded yet."""
    sources: list[ImageSource] = []
    for row, value in enumerate(_column(part, column)):
        if value is None or not (value.get("bytes") or value.get("path")):
            raise DataError(f"{where}: image column {column!r} is empty in row {row}")
        if value.get("bytes"):
            sources.append(bytes(value["bytes"]))
        elif Path(value["path"]).is_absolute() and Path(value["path"]).is_file():  # a Hub cache file
            sources.append(Path(value["path"]))
        else:
            raise DataError(f"{where}: image column {column!r} row {row} points to {value['path']}, which does "
                            "not exist (save the dataset with save_to_disk, which embeds the image bytes)")
    return sources, [f"{where}: image column {column!r} row {row}" for row in range(len(sources))]


def _images(parts: dict[str, Any], column: str, where: dict[str, str],
            image_size: int | None) -> tuple[dict[str, np.ndarray], list[str]]:
    """uint8 (n, C, H, W) images per split, decoded together so that every split gets one size and channel count."""
    read = {part: _image_sources(data, column, where[part]) for part, data in parts.items()}
    images, notes = read_images([s for sources, _ in read.values() for s in sources],
                                [s for _, shown in read.values() for s in shown], image_size)
    bounds = np.cumsum([0] + [len(sources) for sources, _ in read.values()])
    return {part: images[bounds[i]:bounds[i + 1]] for i, part in enumerate(read)}, notes


def _features(part: Any, columns: tuple[str, ...], where: str) -> np.ndarray:
    """float32 (n, d): numeric columns side by side, or one numeric-vector column's rows."""
    blocks = []
    for column in columns:
        values = _column(part, column)
        try:
            block = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{where}: column {column!r} holds vectors of different lengths or missing vectors; "
                            "a numeric-vector input needs one length") from None
        blocks.append(block.reshape(len(values), -1))
    features = np.concatenate(blocks, axis=1)
    bad = ~np.isfinite(features) | (np.abs(np.nan_to_num(features)) > np.finfo(np.float32).max)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1)).tolist()
        raise DataError(f"{where}: the input columns hold missing, infinite or too large values in rows "
                        f"{listing(rows)}")
    return features.astype(np.float32)


def _inputs(parts: dict[str, Any], columns: Columns, where: dict[str, str],
            cfg: DataConfig) -> tuple[dict[str, Any], list[str]]:
    """The inputs per split: images uint8 (n, C, H, W), texts (list of str) or features float32 (n, d); notes."""
    kind = columns.input_kind.name
    if kind == IMAGES:
        return _images(parts, columns.inputs[0], where, cfg.image_size)
    if kind == TEXTS:
        return {part: check_texts(_column(data, columns.inputs[0]), where[part], columns.inputs[0])
                for part, data in parts.items()}, []
    return {part: _features(data, columns.inputs, where[part]) for part, data in parts.items()}, []


def _carve(inputs: Any, given: np.ndarray, truth: np.ndarray | None, sources: list[str], cfg: DataConfig,
           seed: int) -> tuple:
    """(x_train, given_train, true_train, source_train, x_test, y_test) of a seeded stratified test split carved
    from one split (inputs: an array or a list of texts); the test labels are the clean ones when known."""
    train_idx, test_idx = carve_test_split(len(given), given, cfg.test_fraction, seed)

    def pick(values: Any, rows: np.ndarray) -> Any:
        return [values[i] for i in rows] if isinstance(values, list) else values[rows]

    clean = truth if truth is not None else given
    return (pick(inputs, train_idx), given[train_idx], None if truth is None else truth[train_idx],
            pick(sources, train_idx), pick(inputs, test_idx), clean[test_idx])


def from_loaded(loaded: Any, name: str, shown: str, split: str | None, cfg: DataConfig, seed: int) -> Dataset:
    """A `Dataset` from a loaded `datasets.Dataset` or `DatasetDict`; `shown` prefixes sources and messages."""
    chosen, train, test = _splits(loaded, shown, split)
    where = {TRAIN: f"{shown}@{chosen}"}
    columns = choose_columns(dict(train.features), where[TRAIN], cfg.label_column, cfg.input_column, cfg.task)
    notes = [f"split {chosen!r}: inputs from {columns.input_kind.name} column(s) {', '.join(columns.inputs)}, "
             f"{columns.task} labels from {columns.label_kind.name} column {columns.label!r}"
             + (f", truth from {columns.truth!r}" if columns.truth else "")]
    if columns.ignored:
        notes.append(f"ignored columns: {', '.join(columns.ignored[:8])}")
    if test is not None:
        check_test_columns(train.features, test.features, columns, f"{shown}@{TEST}")
        test_labels = _column(test, columns.label)
        if len(_missing_rows(test_labels, columns.label_kind.name == CLASS_LABEL)) == len(test_labels):
            notes.append(f"set aside split {TEST!r}: its labels are all missing")
            test = None
    parts = {TRAIN: train} | ({TEST: test} if test is not None else {})
    if test is not None:
        where[TEST] = f"{shown}@{TEST}"
    codes, class_names = _encode(parts, columns, train.features[columns.label], where)
    declared = getattr(train.features[columns.label], "names", None) or class_names
    if len(declared) > len(class_names):
        unused = [n for n in declared if n not in class_names]
        notes.append(f"dropped {len(unused)} class name(s) without samples: {', '.join(unused[:8])}")
    inputs, input_notes = _inputs(parts, columns, where, cfg)
    notes += input_notes
    given, truth = codes[(TRAIN, columns.label)], codes.get((TRAIN, columns.truth))
    sources = [f"{shown}@{chosen} row {i}" for i in range(len(given))]
    if test is None:
        x_train, given, truth, sources, x_test, y_test = _carve(inputs[TRAIN], given, truth, sources, cfg, seed)
        notes.append(split_note(codes[(TRAIN, columns.label)], cfg.test_fraction, seed))
    else:
        notes.append(f"used split {TEST!r} as the test set")
        x_train, x_test = inputs[TRAIN], inputs[TEST]
        y_test = codes.get((TEST, columns.truth), codes[(TEST, columns.label)])
    common = dict(class_names=class_names, true_train=truth, source_train=sources, notes=notes,
                  test_labels_verified=truth is not None, test_split_carved=test is None, task=columns.task)
    if columns.input_kind.name == TEXTS:
        return text_dataset(name, cfg, texts_train=x_train, given_train=given, texts_test=x_test, y_test=y_test,
                            **common)
    kind = IMAGE if columns.input_kind.name == IMAGES else TABULAR
    return Dataset(name=name, kind=kind, x_train=x_train, given_train=given, x_test=x_test, y_test=y_test,
                   **common)
