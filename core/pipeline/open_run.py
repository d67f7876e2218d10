"""Open a run directory for (re)analysis under a config: which stages must run, and what is set aside.

A new directory gets a fresh manifest. On an existing run, each stage's recorded fingerprint is
compared with the one the new config gives (core.pipeline.fingerprints):
- nothing changed: every finished stage is kept (a killed run resumes);
- only flagging decisions changed (`--budget`, `--primary`, `--retrain-mode`, ...): the samples and
  retrain stages re-run, no --overwrite needed;
- an analysis stage changed (training, gradients, detectors, ...): refused without --overwrite, naming
  the changed fields and the stages that would re-run; with it, those stages' files (and the derived
  files that refer to them, e.g. re-rankings) move to replaced-<time>/ and only they re-run. Reviews
  stay while the training samples (their sources and given labels) are unchanged.
The manifest's `config` becomes the new one, and `history` records each change and what re-ran.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from core.config import RunConfig
from core.data.base import Dataset
from core.errors import RunDirError
from core.pipeline.fingerprints import (
    analysis_fingerprint,
    changed_stages,
    dependents,
    files_depending_on,
    is_decision_only,
    stage_fingerprints,
)
from core.pipeline.registry import STAGES
from core.run import schema
from core.run.io import now_iso
from core.run.rundir import RunDir, config_differences


def training_samples_key(dataset: Dataset) -> str:
    """What the reviews refer to: the training samples (their sources, in order) and their given labels. A data
    change that keeps it (another image size, encoder or token limit) keeps the reviews."""
    digest = hashlib.sha256()
    for source in dataset.source_train:
        encoded = str(source).encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little") + encoded)
    labels = np.asarray(dataset.given_train)
    # Class indices hash as int64 (as they always have); tag indicators and values in their own dtype.
    digest.update(np.ascontiguousarray(labels if dataset.task != "classification" else labels.astype(np.int64))
                  .tobytes())
    if dataset.task != "classification":
        digest.update(f"{dataset.task}{labels.shape}".encode())
    return digest.hexdigest()[:16]


def open_run(run: RunDir, config: RunConfig, *, overwrite: bool = False,
             samples_key: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """(manifest, notes): the manifest to analyze into, and lines saying what changed and what re-runs.

    Call it inside `run.writing()`. `overwrite` with an unchanged config re-runs every stage in place.
    samples_key: `training_samples_key` of the dataset about to be analyzed; when the run recorded the same
    one, the reviews stay even if the data stage re-runs.
    """
    prints = stage_fingerprints(config)  # hashes a text encoder's folder once, with the data section
    whole = config.fingerprint()
    entries = {"stage_fingerprints": prints, "analysis_fingerprint": analysis_fingerprint(prints),
               "training_samples": samples_key}
    if not run.exists():
        return run.create(config, whole, **entries), []
    manifest = run.reopen()
    if manifest.get("config_fingerprint") == whole:
        if overwrite:
            manifest["stages"] = {}
            return manifest, ["--overwrite: re-running every stage"]
        return manifest, []
    differences = config_differences(manifest.get("config", {}), config.to_dict())
    rerun = dependents(changed_stages(manifest.get("stages", {}), prints))
    if not is_decision_only(rerun):
        if not overwrite:
            raise RunDirError(
                f"{run.path} holds a run made with another config ({'; '.join(differences) or 'unknown'}), which "
                f"would re-run the {', '.join(rerun)} stage(s); add --overwrite to re-run them (their files move to "
                "replaced-<time>/), or use a new --out directory")
        aside = [name for stage in rerun for name in (*STAGES.entry(stage).meta["files"],
                                                       *STAGES.entry(stage).meta.get("optional", ()))]
        derived = files_depending_on(rerun)
        if samples_key is not None and manifest.get("training_samples") == samples_key:
            derived = [name for name in derived if name not in (schema.REVIEWS, schema.TEST_REVIEWS)]
        backup = run.set_aside(aside + derived)
    else:
        backup = None
    for stage in rerun:
        manifest["stages"].pop(stage, None)
    manifest.update(config=config.to_dict(), config_fingerprint=whole, **entries)
    manifest.setdefault("history", []).append({"at": now_iso(), "changed": differences, "reran": rerun,
                                               "set_aside": None if backup is None else backup.name})
    run.write_manifest(manifest)
    notes = [f"config changed ({'; '.join(differences)}): re-running the {', '.join(rerun) or 'no'} stage(s)"]
    if backup is not None:
        notes.append(f"their previous files are in {backup}")
    if backup is not None and any((backup / name).exists() for name in (schema.REVIEWS, schema.TEST_REVIEWS)):
        notes.append("the training samples may have changed, so the reviews were set aside with them")
    return manifest, notes
