"""A NumPy .npz archive: arrays a user already has in memory, saved with `np.savez`.

An archive with a `features` key holds a trained model's outputs instead (core.data.outputs).

Keys:
- `X` (n, ...) numeric inputs and the labels: required. The labels are
  `y` (n,) classes (non-negative integers or strings; classification), or
  `y` (n,) floats with a fraction anywhere (regression: a target per sample; a float `y` of whole
  numbers stays classes unless `--task regression`), or
  `Y` (n, C) 0/1 tag indicators (multilabel), its tags named by an optional `tag_names` (C,).
- `y_true` / `Y_true`: clean labels when known.
- `X_test` and `y_test` / `Y_test`: a held-out split (both or neither); without them one is carved.

2-D `X` is tabular (float32). 3-D (n, H, W), 4-D (n, C, H, W) or (n, H, W, C) with C in {1, 3}
is images (uint8 (n, C, H, W)): uint8 values, integers in 0..255 or floats in [0, 1] (scaled
by 255). The file is read with `allow_pickle=False`, so it can never run code.
`source_train` is `row N`, the index into `X`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from core.config import DataConfig
from core.data.base import IMAGE, TABULAR, Dataset
from core.data.manifest import encode_labels
from core.data.outputs import is_outputs_npz, load_outputs_npz
from core.data.split import carve_test_split, split_note
from core.data.task_labels import (
    CLASSIFICATION,
    MULTILABEL,
    REGRESSION,
    encode_tags,
    indicator_matrix,
    parse_targets,
    resolve_task,
)
from core.errors import DataError

TAG_KEYS = ("Y", "Y_true", "Y_test")
"""The multi-label archive's label keys, in the places of y, y_true, y_test."""
CHANNEL_COUNTS = (1, 3)


def _read(path: Path) -> dict[str, np.ndarray]:
    """Every array of the archive, loaded without pickle."""
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: holds a single array, not an .npz archive of named arrays (X, y, ...)")
        with archive:
            return {key: archive[key] for key in archive.files}
    except DataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(f"{path}: an array needs pickle to load (object dtype); save plain numeric "
                            "or string arrays instead") from None
        raise DataError(f"{path}: cannot read the .npz archive ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{path}: cannot read the .npz archive ({type(exc).__name__}: {exc})") from None


def _check_finite(values: np.ndarray, where: str) -> None:
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(f"{where} holds NaN or infinite values in {len(rows)} rows, first at row {rows[0]}")


def _channels_first(x: np.ndarray, where: str) -> np.ndarray:
    """View of image array x as (n, C, H, W)."""
    if x.ndim == 3:
        return x[:, None, :, :]
    if x.shape[1] in CHANNEL_COUNTS:
        return x
    if x.shape[3] in CHANNEL_COUNTS:
        return np.transpose(x, (0, 3, 1, 2))
    raise DataError(f"{where} has shape {x.shape}: a 4-D image array needs 1 or 3 channels, "
                    "as (n, C, H, W) or (n, H, W, C)")


def _to_uint8(x: np.ndarray, where: str) -> np.ndarray:
    """Pixels as uint8: uint8 unchanged, integers in 0..255 cast, floats in [0, 1] scaled by 255."""
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind in "bui" or x.dtype.kind == "f":
        if x.dtype.kind == "f":
            _check_finite(x, where)
        low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        if x.dtype.kind == "f" and 0 <= low and high <= 1:
            return np.round(x.astype(np.float64) * 255).astype(np.uint8)
        if x.dtype.kind in "bui" and 0 <= low and high <= 255:
            return x.astype(np.uint8)
        raise DataError(f"{where}: image values must be uint8, integers in 0..255 or floats in [0, 1]; "
                        f"found dtype {x.dtype} ranging over [{low:g}, {high:g}]")
    raise DataError(f"{where}: image values must be numeric, found dtype {x.dtype}")


def _inputs(x: np.ndarray, where: str) -> tuple[np.ndarray, str]:
    """(inputs, kind): float32 (n, d) for 2-D arrays, uint8 (n, C, H, W) for image arrays."""
    if x.dtype.kind not in "buif":
        raise DataError(f"{where} must be numeric, found dtype {x.dtype}")
    if x.ndim == 2:
        if x.shape[1] == 0:
            raise DataError(f"{where} has shape {x.shape}: no feature columns")
        features = x.astype(np.float64)
        _check_finite(features, where)
        too_large = np.abs(features) > np.finfo(np.float32).max
        if too_large.any():
            raise DataError(f"{where} overflows float32 in row {np.argwhere(too_large)[0][0]}")
        return features.astype(np.float32), TABULAR
    if x.ndim in (3, 4):
        images = _channels_first(x, where)
        if 0 in images.shape[2:]:
            raise DataError(f"{where} has shape {x.shape}: images with no pixels")
        return np.ascontiguousarray(_to_uint8(images, where)), IMAGE
    raise DataError(f"{where} has shape {x.shape}; expected 2-D (n, features), 3-D (n, H, W) or "
                    "4-D (n, C, H, W) / (n, H, W, C)")


def _check_keys(arrays: dict[str, np.ndarray], path: Path) -> tuple[str, str, str]:
    """The archive's (labels, truth, test labels) keys: y, y_true, y_test or Y, Y_true, Y_test."""
    if "Y" in arrays and "y" in arrays:
        raise DataError(f"{path}: has both y (one label per sample) and Y (tag indicators); keep one")
    keys = TAG_KEYS if "Y" in arrays else ("y", "y_true", "y_test")
    missing = [key for key in ("X", keys[0]) if key not in arrays]
    if missing:
        raise DataError(f"{path}: missing key(s) {', '.join(missing)}; found keys: {', '.join(arrays) or 'none'}")
    if ("X_test" in arrays) != (keys[2] in arrays):
        present, absent = ("X_test", keys[2]) if "X_test" in arrays else (keys[2], "X_test")
        raise DataError(f"{path}: has {present} but not {absent}; give both or neither")
    for x_key, y_keys in (("X", keys[:2]), ("X_test", keys[2:])):
        if x_key not in arrays:
            continue
        if arrays[x_key].ndim == 0:
            raise DataError(f"{path}: key {x_key} is a scalar, expected an array of samples")
        for y_key in (key for key in y_keys if key in arrays):
            shape = np.shape(arrays[y_key])
            wanted = f"({len(arrays[x_key])}, C)" if keys is TAG_KEYS else f"({len(arrays[x_key])},)"
            if shape[:1] != (len(arrays[x_key]),) or len(shape) != (2 if keys is TAG_KEYS else 1):
                raise DataError(f"{path}: key {y_key} has shape {shape}, expected {wanted} to match {x_key}")
    if len(arrays["X"]) == 0:
        raise DataError(f"{path}: key X holds no samples")
    return keys


def _has_fraction(values: np.ndarray) -> bool:
    """True for a float array with a finite value that is not a whole number (a regression target)."""
    values = np.asarray(values)
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values[:0]
    return bool(len(finite) and (finite != np.round(finite)).any())


def encode_npz_labels(arrays: dict[str, np.ndarray], keys: tuple[str, str, str], path: Path,
                      requested: str | None) -> tuple[str, dict[str, np.ndarray], list[str]]:
    """(task, {key: labels in the task's form}, class names) of an archive's label arrays (module docstring)."""
    present = [key for key in keys if key in arrays]
    if keys is TAG_KEYS:
        resolve_task(MULTILABEL, requested, str(path), "key Y (tag indicators)")
        codes = {key: indicator_matrix(arrays[key], f"{path}: key {key}") for key in present}
        widths = {key: c.shape[1] for key, c in codes.items()}
        if len(set(widths.values())) > 1:
            raise DataError(f"{path}: Y, Y_true and Y_test must have the same number of tags, got {widths}")
        names = [str(t) for t in arrays["tag_names"].tolist()] if "tag_names" in arrays else \
            [str(c) for c in range(widths["Y"])]
        if len(names) != widths["Y"] or len(set(names)) != len(names):
            raise DataError(f"{path}: key tag_names must hold {widths['Y']} distinct names, one per column of Y")
        return MULTILABEL, codes, names
    inferred = REGRESSION if _has_fraction(arrays["y"]) else CLASSIFICATION
    what = "a float y with fractions" if inferred == REGRESSION else "key y"
    task = resolve_task(inferred, requested, str(path), what,
                        (CLASSIFICATION,) if inferred == REGRESSION else (REGRESSION, MULTILABEL))
    if task == REGRESSION:
        return task, {key: parse_targets(np.asarray(arrays[key]).tolist(), str(path), key, "position")
                      for key in present}, ["target"]
    if task == MULTILABEL:
        return task, *encode_tags({key: np.asarray(arrays[key]).tolist() for key in present}, str(path), "position")
    codes, names = encode_labels({key: arrays[key] for key in present}, str(path), unit="position", units="positions")
    return task, codes, names


def load_npz(path: Path, cfg: DataConfig, seed: int) -> Dataset:
    """Dataset from an .npz archive (see the module docstring for keys and shapes)."""
    path = Path(path)
    arrays = _read(path)
    if is_outputs_npz(arrays):
        return load_outputs_npz(path, arrays, cfg, seed)
    keys = _check_keys(arrays, path)
    inputs, kind = _inputs(arrays["X"], f"{path}: key X")
    task, codes, class_names = encode_npz_labels(arrays, keys, path, cfg.task)
    notes = [] if task == CLASSIFICATION else [f"read {task} labels from key {keys[0]}"]
    ignored = sorted(set(arrays) - {"X", *keys, "X_test", "tag_names"})
    if ignored:
        notes.append(f"ignored keys: {', '.join(ignored)}")
    given, truth = codes[keys[0]], codes.get(keys[1])
    if "X_test" in arrays:
        x_test, test_kind = _inputs(arrays["X_test"], f"{path}: key X_test")
        if test_kind != kind or x_test.shape[1:] != inputs.shape[1:]:
            raise DataError(f"{path}: key X_test has per-sample shape {x_test.shape[1:]} ({test_kind}), "
                            f"expected {inputs.shape[1:]} ({kind}) to match X")
        x_train, given_train, true_train, y_test = inputs, given, truth, codes[keys[2]]
        source_rows = np.arange(len(inputs))
    else:
        train_idx, test_idx = carve_test_split(len(given), given, cfg.test_fraction, seed)
        notes.append(split_note(given, cfg.test_fraction, seed))
        clean = truth if truth is not None else given
        x_train, x_test = inputs[train_idx], inputs[test_idx]
        given_train, y_test = given[train_idx], clean[test_idx]
        true_train = None if truth is None else truth[train_idx]
        source_rows = train_idx
    return Dataset(
        name=path.name,
        kind=kind,
        x_train=x_train,
        given_train=given_train,
        true_train=true_train,
        x_test=x_test,
        y_test=y_test,
        class_names=class_names,
        source_train=[f"row {i}" for i in source_rows],
        notes=notes,
        test_split_carved="X_test" not in arrays,
        task=task,
    )
