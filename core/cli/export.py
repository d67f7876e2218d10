"""`gradsift export` and `gradsift import-reviews`: round trips with Label Studio, cleanlab and FiftyOne.

Thin: the formats live in core.export (one module each, registered in core.export.registry);
heavy modules are imported inside the commands so `gradsift --help` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from core.cli.app import app, friendly, out
from core.export.registry import EXPORT_FORMATS, REVIEW_FORMATS

FORMAT_HELP = ", ".join(EXPORT_FORMATS.names()) + " (docs/exports.md; `gradsift export --help` lists them)."


@app.command()
@friendly
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    output_format: Annotated[str, typer.Option("--format", help=FORMAT_HELP)],
    out_path: Annotated[Path, typer.Option("--out", help="File (or, for fiftyone, directory) to create; "
                                                         "an existing one is refused, never overwritten.")],
    split: Annotated[str, typer.Option(help="train (the analyzed samples) or test (the test split, scored "
                                            "by the model's disagreement with its labels).")] = "train",
    only: Annotated[Optional[str], typer.Option(help="flagged (the primary detector's flags) or all "
                                                     "(default: flagged for label-studio, all otherwise).")] = None,
    image_root: Annotated[Optional[Path], typer.Option(help="label-studio: refer to the image files relative "
                                                            "to this directory (Label Studio's local-files "
                                                            "document root) instead of embedding thumbnails.")] = None,
) -> None:
    """Export a run's samples, flags and reviews for Label Studio, cleanlab, FiftyOne, or as a cleaned manifest."""
    from core.export.source import export_run
    from core.run.reviews import ReviewStore

    written = export_run(run_dir, output_format, out_path, split, only, image_root)
    chosen = only or EXPORT_FORMATS.entry(output_format).meta["only"]
    open_count = len(ReviewStore(run_dir, split=split).open_disagreements())
    out.print(f"wrote {written.count} {written.what} ({chosen} of the {split} split): "
              + ", ".join(str(path) for path in written.paths)
              + (f"; {open_count} sample(s) whose reviewers disagree carry no decision until a lead adjudicates "
                 "(gradsift reviews)" if open_count else ""), highlight=False)


@app.command("import-reviews")
@friendly
def import_reviews_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    file: Annotated[Path, typer.Argument(help="A Label Studio JSON export, or a CSV of corrections "
                                              "(sample_id, label, optional action).")],
    reviewer: Annotated[str, typer.Option(help="Whose decisions these are (recorded with each one).")],
    review_format: Annotated[str, typer.Option("--format", help="auto (by suffix: .json, .csv), "
                                               + ", ".join(REVIEW_FORMATS.names()) + ".")] = "auto",
    split: Annotated[str, typer.Option(help="Whose review store: train or test.")] = "train",
) -> None:
    """Merge decisions made in Label Studio or a spreadsheet into the run's review store (history kept)."""
    from core.export.import_reviews import import_reviews

    result = import_reviews(run_dir, file, reviewer, review_format, split)
    counts = ", ".join(f"{count} {action}" for action, count in result.counts.items())
    skipped = f"; {result.skipped} without a decision skipped" if result.skipped else ""
    skipped += f"; {result.already} already imported before" if result.already else ""
    out.print(f"imported {sum(result.counts.values())} decisions by {reviewer.strip()} ({counts}){skipped} "
              f"into {result.store}", highlight=False)
