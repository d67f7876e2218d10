"""Per-stage fingerprints: what each stage of a run was computed from, so a change re-runs only what depends on it.

A stage's fingerprint hashes the config keys it reads (`reads` in core.pipeline.registry) and the
fingerprints of the stages it needs, as a build system hashes a target's inputs. Changing
`flag.budget` therefore changes the fingerprints of the samples and retrain stages only: the
model, gradients and map stay as they are. `changed_stages` says which stages a new config would
re-run on an existing run, and `files_depending_on` which other files of the run directory
(reviews, re-rankings, near-duplicate searches) would no longer match.
"""

from __future__ import annotations

import hashlib
import json

from core.config import RunConfig
from core.pipeline.registry import STAGES
from core.run import schema

DERIVED_FILES: dict[str, str] = {
    schema.REVIEWS: "data",
    schema.TEST_REVIEWS: "data",
    schema.CONFLICTS: "train",
    schema.RERANK: "samples",
}
"""Files written after an analysis (by people and actions), and the stage whose output they refer to: a
re-run of that stage sets them aside. Reviews refer to the training samples: they stay while the data stage
is unchanged, or re-runs on the same samples (core.pipeline.open_run.training_samples_key)."""


def stage_fingerprints(config: RunConfig) -> dict[str, str]:
    """{stage: 16-hex fingerprint} for every stage, in pipeline order."""
    prints: dict[str, str] = {}
    for name in STAGES.names():
        meta = STAGES.entry(name).meta
        blob = json.dumps({"reads": config.fingerprint(*meta["reads"]) if meta["reads"] else str(config.seed),
                           "needs": [prints[need] for need in meta["needs"]]}, sort_keys=True).encode()
        prints[name] = hashlib.sha256(blob).hexdigest()[:16]
    return prints


def analysis_fingerprint(prints: dict[str, str]) -> str:
    """The fingerprint of everything a retraining result depends on besides its own request (detector,
    budget, seed, mode, reviews): the scores and the test labels, from `stage_fingerprints`. Keys
    retrain.parquet's rows."""
    return hashlib.sha256(f"{prints['scores']}:{prints['evaluate']}".encode()).hexdigest()[:16]


def changed_stages(recorded: dict[str, dict], new: dict[str, str]) -> list[str]:
    """Stages, in pipeline order, whose recorded fingerprint differs from `new` (never-run stages excluded)."""
    return [name for name in new if name in recorded and recorded[name].get("fingerprint") != new[name]]


def dependents(stages: list[str]) -> list[str]:
    """`stages` and every stage that needs one of them, directly or not, in pipeline order."""
    out: set[str] = set(stages)
    for name in STAGES.names():
        if any(need in out for need in STAGES.entry(name).meta["needs"]):
            out.add(name)
    return [name for name in STAGES.names() if name in out]


def is_decision_only(stages: list[str]) -> bool:
    """Whether re-running `stages` recomputes only flagging decisions (no --overwrite needed)."""
    return all(STAGES.entry(name).meta.get("decision") for name in stages)


def files_depending_on(stages: list[str]) -> list[str]:
    """The derived files (DERIVED_FILES) that refer to one of `stages`' outputs."""
    return [name for name, stage in DERIVED_FILES.items() if stage in stages]
