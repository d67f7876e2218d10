"""Commands on an analyzed run: `gradsift info`, `retrain` and `sweep`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from core.cli.app import ConsoleReporter, app, friendly, out, print_table, table
from core.errors import ConfigError

FORMATS = ("table", "csv", "json")
DETECTION_COLUMNS = {"method": "method", "n_flagged": "flagged", "precision": "precision", "recall": "recall",
                     "f1": "F1", "auroc": "AUROC", "ap": "AP", "precision_at_truth": "P@#noisy"}


def _fmt(value) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


def _fmt_int(value) -> str:
    return "-" if value is None or value != value else str(int(value))


def print_info(run_dir: Path, output_format: str = "table") -> None:
    """Print a run's summary as a table (full method names at any width), CSV (the detection table) or JSON."""
    from core.evaluate.report import run_summary

    if output_format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}; got {output_format!r}")
    summary = run_summary(run_dir)
    if output_format == "json":
        out.print_json(json.dumps(summary["report"]))
        return
    if output_format == "csv":
        import pandas as pd

        frame = pd.DataFrame(summary["detectors"])
        out.print(frame.to_csv(index=False), end="", highlight=False, soft_wrap=True)
        return
    out.print(f"[bold]{summary['path']}[/]")
    for line in summary["lines"]:
        out.print(f"  {line}", highlight=False)
    if summary["detectors"]:
        title = f"detection at budget {summary['budget']:.1%}" + (
            "" if summary["has_truth"] else " (no true labels: truth metrics unavailable)")
        detection = table(title, list(DETECTION_COLUMNS.values()), right=tuple(list(DETECTION_COLUMNS.values())[1:]))
        for row in summary["detectors"]:
            detection.add_row(row["method"], str(row["n_flagged"]),
                              *(_fmt(row[key]) for key in list(DETECTION_COLUMNS)[2:]))
        print_table(detection)
    if summary["retrain"]:
        results = table("test accuracy after pruning",
                        ["detector", "budget", "mode", "removed", "truly noisy removed", "test accuracy"])
        for row in summary["retrain"]:
            results.add_row(row["detector"], f"{row['budget']:.1%}", row["mode"], str(row["n_removed"]),
                            _fmt_int(row["n_removed_noisy"]), f"{row['test_accuracy']:.4f}")
        print_table(results)


@app.command()
@friendly
def info(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    output_format: Annotated[str, typer.Option("--format", help="table, csv (the detection table) or json.")] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="Shorthand for --format json.")] = False,
) -> None:
    """Summarize a run: data, noise, per-detector precision/recall at the budget, AUROC, AP, accuracy."""
    print_info(run_dir, "json" if as_json else output_format)


@app.command()
@friendly
def retrain(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    detector: Annotated[str, typer.Option(help="Whose flags to remove.")] = "iforest",
    budget: Annotated[float, typer.Option(help="Fraction of training samples to remove (0 = baseline).")] = 0.05,
    mode: Annotated[str, typer.Option(help="full (retrain the model) or probe (refit the last layer only).")] = "full",
    seed: Annotated[Optional[int], typer.Option(help="Training seed (default: the run's).")] = None,
) -> None:
    """Retrain without the flagged samples and record test accuracy in the run directory."""
    from core.pipeline.retrain import retrain as do_retrain
    from core.run.rundir import RunDir

    row = do_retrain(RunDir(run_dir), detector, budget, mode=mode, seed=seed, reporter=ConsoleReporter())
    out.print(f"{detector} budget {budget:.1%} ({mode}): removed {row['n_removed']}, "
              f"test accuracy {row['test_accuracy']:.4f}", highlight=False)


@app.command()
@friendly
def sweep(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    detector: Annotated[Optional[list[str]], typer.Option("--detector", help="Detector(s); default: the run's primary.")] = None,
    mode: Annotated[str, typer.Option(help="full or probe.")] = "full",
) -> None:
    """Test accuracy for budgets 0-12.5% in 2.5% steps (the paper's Fig. 5)."""
    from core.protocols.paper import budget_curve
    from core.run.rundir import RunDir

    detectors = tuple(detector or [RunDir(run_dir).config().detect.primary])
    print_budget_table(budget_curve(run_dir, detectors, mode=mode, reporter=ConsoleReporter()))


def print_budget_table(curve) -> None:
    budgets = sorted(curve.budget.unique())
    result = table("test accuracy vs budget", ["detector", *(f"{b:.1%}" for b in budgets)],
                   right=tuple(f"{b:.1%}" for b in budgets))
    for name, part in curve.groupby("detector", sort=False):
        result.add_row(name, *(f"{acc:.4f}" for acc in part.sort_values("budget").test_accuracy))
    print_table(result)
