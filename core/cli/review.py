"""Commands of the review loop: `gradsift rerank` (re-rank with the decisions so far) and `gradsift conflicts`
(near-duplicates with conflicting labels). Thin: the work is in core.review; option defaults and help texts
come from core.review.config's RerankConfig and ConflictConfig (core.cli.options.section_command)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.cli.app import app, console, friendly, out, print_table, table
from core.cli.options import section_command
from core.review.config import ConflictConfig, RerankConfig


@app.command()
@friendly
@section_command(RerankConfig)
def rerank(
    config: RerankConfig,
    run_dir: Annotated[Path, typer.Argument(help="A run directory (its reviews.sqlite holds the decisions).")],
    top: Annotated[int, typer.Option(help="How many of the samples to review next to print.")] = 20,
) -> None:
    """Re-rank the unreviewed samples with the review decisions so far and re-estimate the errors left
    (writes rerank.parquet; samples.parquet's static ranking is kept)."""
    from core.review.rerank import rerank as run_rerank
    from core.run import schema

    result = run_rerank(run_dir, config,
                        progress=lambda stage, fraction: console.print(f"  [{fraction:4.0%}] {stage}", highlight=False))
    facts, remaining = result.facts, result.facts["remaining"]
    out.print(f"re-ranked {remaining['n_unreviewed']:,} unreviewed samples by {facts['method']} from "
              f"{facts['n_decisions']} decision(s) ({facts['n_wrong']} wrong, {facts['n_kept']} kept) in "
              f"{facts['seconds']:.1f} s" + (f"; {facts['n_open_disagreements']} open disagreement(s) left out until a "
                                             "lead adjudicates (gradsift reviews)"
                                             if facts.get("n_open_disagreements") else ""), highlight=False)
    out.print(f"wrong labels left among them: about {remaining['estimate']:.0f} (range {remaining['low']:.0f}-"
              f"{remaining['high']:.0f}: refit disagreements {remaining['disagreement']:.0f}, score mixture "
              f"{remaining['mixture']:.0f}; docs/review-loop.md)", highlight=False)
    frame = result.frame.set_index(schema.SAMPLE_ID)
    queue = result.queue[:max(top, 0)]
    if len(queue):
        listing = table("review next", ["rank", "sample", "score", "refit disagrees"],
                        right=("rank", "sample", "score"))
        for sample_id in queue:
            row = frame.loc[sample_id]
            listing.add_row(str(int(row[schema.RERANK_RANK])), str(int(sample_id)), f"{row[schema.RERANK_SCORE]:.4g}",
                            "yes" if row[schema.RERANK_DISAGREES] else "no")
        print_table(listing)


@app.command("reviews")
@friendly
def reviews_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (its reviews.sqlite holds the votes).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    split: Annotated[str, typer.Option(help="Whose review store: train or test.")] = "train",
) -> None:
    """The review team: each annotator's decisions, agreement with the consensus and gold accuracy, the agreement
    figure (Krippendorff's alpha), and the consensus counts (open disagreements wait for a lead's adjudication)."""
    import json

    from core.export.source import load_source
    from core.review.consensus import team_summary

    summary = team_summary(load_source(run_dir, split).store())
    if as_json:
        out.print_json(json.dumps(summary))
        return
    counts, agreement = summary["consensus"], summary["agreement"]
    value = "n/a" if agreement["value"] is None else f"{agreement['value']:.3f}"
    out.print(f"{counts['samples_decided']} samples decided, {counts['disagreements_open']} open disagreement(s), "
              f"{counts['adjudicated']} adjudicated, {counts['low_quality_open']} low-quality consensus to check, "
              f"{counts['gold']} gold (overlap {counts['overlap']}); agreement {agreement['metric']} {value} on "
              f"{agreement['n_samples']} samples with two votes or more", highlight=False)
    if summary["annotators"]:
        listing = table("annotators", ["name", "role", "decided", "agrees with consensus", "gold accuracy", "quality"],
                        right=("decided", "agrees with consensus", "gold accuracy", "quality"))
        def cell(value):
            return "-" if value is None else f"{value:.3f}"
        for person in summary["annotators"]:
            listing.add_row(person["name"], person["role"] or "-", str(person["decided"]),
                            cell(person["agreement_with_consensus"]), cell(person["gold_accuracy"]),
                            cell(person["quality"]))
        print_table(listing)


@app.command()
@friendly
@section_command(ConflictConfig)
def conflicts(
    config: ConflictConfig,
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    top: Annotated[int, typer.Option(help="How many of the closest pairs to print.")] = 20,
) -> None:
    """Find near-duplicate training samples (penultimate features) whose given labels differ; writes
    conflicts.parquet."""
    from core.review.conflicts import find_conflicts, stored_labels
    from core.run.label_forms import form_of_run
    from core.run.rundir import RunDir

    pairs, facts = find_conflicts(run_dir, config)
    out.print(f"{len(pairs):,} conflicting pair(s) among {facts['n_queries']:,} searched samples "
              f"({facts['metric']} distance ≤ {facts['threshold']:.4g}, the {facts['distance_quantile']:g} quantile "
              f"of nearest-neighbour distances) in {facts['seconds']:.1f} s", highlight=False)
    names = RunDir(run_dir).read_manifest()["dataset"]["class_names"]
    if len(pairs):
        listing = table("closest conflicting pairs", ["sample a", "sample b", "distance", "given a", "given b"],
                        right=("sample a", "sample b", "distance"))
        form, shown = form_of_run(run_dir), pairs.head(max(top, 0))
        for row, given_a, given_b in zip(shown.itertuples(), *stored_labels(shown, form)):
            listing.add_row(str(row.sample_a), str(row.sample_b), f"{row.distance:.4g}", form.describe(given_a, names),
                            form.describe(given_b, names))
        print_table(listing)
