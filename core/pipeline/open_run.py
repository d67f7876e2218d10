"""Open a run directory for (re)analysis under a config: which stages must run, and what is set aside.

A new directory gets a fresh manifest. On an existing run, each stage's recorded fingerprint is
compared with the one the new config gives (core.pipeline.fingerprints):
- nothing changed: every finished stage is kept (a killed run resumes);
- only flagging decisions changed (`--budget`, `--primary`, `--retrain-mode`, ...): the samples and
  retrain stages re-run, no --overwrite needed;
- an analysis stage changed (training, gradients, detectors, ...): refused without --overwrite, naming
  the changed fields and the stages that would re-run; with it, those stages' files (and the derived
  files that refer to them, e.g. re-rankings) move to replaced-<time>/ and only they re-run. Reviews
  stay while the training samples (the data stage) are unchanged.
The manifest's `config` becomes the new one, and `history` records each change and what re-ran.
"""

from __future__ import annotations

from typing import Any

from core.config import RunConfig
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


def open_run(run: RunDir, config: RunConfig, *, overwrite: bool = False) -> tuple[dict[str, Any], list[str]]:
    """(manifest, notes): the manifest to analyze into, and lines saying what changed and what re-runs.

    Call it inside `run.writing()`. `overwrite` with an unchanged config re-runs every stage in place.
    """
    prints = stage_fingerprints(config)
    entries = {"stage_fingerprints": prints, "analysis_fingerprint": analysis_fingerprint(config)}
    if not run.exists():
        return run.create(config, **entries), []
    manifest = run.reopen()
    if manifest.get("config_fingerprint") == config.fingerprint():
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
        backup = run.set_aside(aside + files_depending_on(rerun))
    else:
        backup = None
    for stage in rerun:
        manifest["stages"].pop(stage, None)
    manifest.update(config=config.to_dict(), config_fingerprint=config.fingerprint(), **entries)
    manifest.setdefault("history", []).append({"at": now_iso(), "changed": differences, "reran": rerun,
                                               "set_aside": None if backup is None else backup.name})
    run.write_manifest(manifest)
    notes = [f"config changed ({'; '.join(differences)}): re-running the {', '.join(rerun) or 'no'} stage(s)"]
    if backup is not None:
        notes.append(f"their previous files are in {backup}")
    if backup is not None and any((backup / name).exists() for name in (schema.REVIEWS, schema.TEST_REVIEWS)):
        notes.append("the training samples may have changed, so the reviews were set aside with them")
    return manifest, notes
