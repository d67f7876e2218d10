"""The `gradsift` command: parse options into a RunConfig and hand it to core.

Thin on purpose: no computation here. Heavy modules are imported inside commands so
`gradsift --help` answers instantly. Errors caused by input (GradsiftError) print one
line and exit with status 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from core.errors import GradsiftError

app = typer.Typer(
    name="gradsift",
    help="Find the training samples that hurt a model (Outlier Gradient Analysis), review them, prove the clean-up.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True)
out = Console()
_state = {"debug": False}

DEFAULT_RUNS_DIR = Path("runs")


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False) -> None:
    _state["debug"] = debug


def friendly(command):
    """Turn GradsiftError into a one-line message and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except GradsiftError as exc:
            if _state["debug"]:
                raise
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


class ConsoleReporter:
    """Prints stage lines; tqdm draws the per-epoch bars underneath."""

    show_bars = True

    def stage(self, name: str, index: int, total: int, skipped: bool) -> None:
        state = "[dim]cached[/]" if skipped else "running"
        console.print(f"[bold][{index + 1}/{total}][/] {name}: {state}")

    def message(self, text: str) -> None:
        console.print(f"      {text}", highlight=False)


def _default_out(dataset: str) -> Path:
    name = Path(dataset).stem if os.path.sep in dataset or "." in dataset else dataset
    return DEFAULT_RUNS_DIR / name


@app.command()
@friendly
def analyze(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name (see `gradsift datasets`) or a path: image folder, .csv/.parquet manifest, .npz.")] = "digits",
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory (default runs/<dataset>).")] = None,
    model: Annotated[str, typer.Option(help="Model name (see `gradsift models`); auto picks the dataset's default.")] = "auto",
    detector: Annotated[Optional[list[str]], typer.Option("--detector", help="Detector(s) to run; repeat the option. Default: iforest, l1, l2.")] = None,
    primary: Annotated[Optional[str], typer.Option(help="Detector whose flags fill is_flagged (default: the first).")] = None,
    budget: Annotated[float, typer.Option(help="Fraction k of training samples to flag.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed for splits, noise, training, detectors and UMAP.")] = 0,
    noise: Annotated[Optional[str], typer.Option(help="Injected label-noise model: symmetric, pairflip, human.")] = None,
    noise_rate: Annotated[Optional[float], typer.Option(help="Fraction of training labels to corrupt.")] = None,
    label_set: Annotated[Optional[str], typer.Option(help="CIFAR-N label set: aggregate, random1..3, worst, noisy100.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Directory with downloaded files (CIFAR-N).")] = None,
    test_fraction: Annotated[float, typer.Option(help="Test split carved out when the source has none.")] = 0.2,
    image_size: Annotated[Optional[int], typer.Option(help="Resize images of mixed sizes to this side.")] = None,
    epochs: Annotated[int, typer.Option(help="Maximum training epochs (early stopping may end sooner).")] = 40,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 64,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    optimizer: Annotated[str, typer.Option(help="adam or sgd.")] = "adam",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, mps.")] = "auto",
    gradient_mode: Annotated[str, typer.Option(help="in_sample (one early-stopped model) or cross_fit (K-fold, out-of-sample gradients).")] = "in_sample",
    folds: Annotated[int, typer.Option(help="Folds for cross-fitted gradients.")] = 5,
    layers: Annotated[str, typer.Option(help="last (closed form), all, or comma-separated parameter prefixes.")] = "last",
    weight_only: Annotated[bool, typer.Option("--weight-only", help="Last-layer weight gradient only, no bias (as the reference code).")] = False,
    projection: Annotated[str, typer.Option(help="auto, none, sparse, kronecker.")] = "auto",
    projection_dim: Annotated[int, typer.Option(help="Width gradients are projected to when wider.")] = 1024,
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="Also compute influence and label-quality baseline scores.")] = True,
    embed: Annotated[str, typer.Option(help="2-D map of gradient space: umap or pca.")] = "umap",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a run made with another config (old files are moved to replaced-*/).")] = False,
    no_retrain: Annotated[bool, typer.Option("--no-retrain", help="Skip the evaluate stage (retraining without the flagged samples).")] = False,
    scheduler: Annotated[Optional[str], typer.Option(help="Run gradients and scoring on the Dask cluster at this scheduler address (tcp://host:8786); the run directory must be on a filesystem its workers share. Results do not change.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Run gradients and scoring on a local Dask cluster of this many single-threaded worker processes. Results do not change.")] = None,
) -> None:
    """Train, compute per-sample gradients, score them with outlier detectors, and write a run directory."""
    from core.config import (
        BaselineConfig,
        DataConfig,
        DetectConfig,
        EmbedConfig,
        GradientConfig,
        RunConfig,
        TrainConfig,
    )
    from core.pipeline.dask_cluster import open_client
    from core.pipeline.runner import analyze as run_analysis

    detectors = tuple(detector) if detector else ("iforest", "l1", "l2")
    config = RunConfig(
        data=DataConfig(dataset=dataset, data_dir=str(data_dir) if data_dir else None, label_set=label_set,
                        noise=noise, noise_rate=noise_rate, test_fraction=test_fraction, image_size=image_size),
        train=TrainConfig(model=model, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, device=device),
        gradients=GradientConfig(mode=gradient_mode, folds=folds, layers=layers, include_bias=not weight_only,
                                 projection=projection, projection_dim=projection_dim),
        detect=DetectConfig(detectors=detectors, primary=primary or detectors[0], budget=budget),
        baselines=BaselineConfig(enabled=baselines),
        embed=EmbedConfig(method=embed),
        seed=seed,
    )
    run_dir = out_dir or _default_out(dataset)
    console.print(f"analyzing [bold]{dataset}[/] into {run_dir}")
    with open_client(scheduler, workers) as client:
        run = run_analysis(config, run_dir, overwrite=overwrite, reporter=ConsoleReporter(),
                           retrain_after=not no_retrain, client=client)
    _print_info(run.path)


@app.command()
@friendly
def info(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Summarize a run: data, noise, per-detector precision/recall at the budget, AUROC, AP, accuracy."""
    _print_info(run_dir)


def _print_info(run_dir: Path) -> None:
    from core.evaluate.report import run_summary

    summary = run_summary(run_dir)
    out.print(f"[bold]{summary['path']}[/]")
    for line in summary["lines"]:
        out.print(f"  {line}", highlight=False)
    if summary["detectors"]:
        table = Table(title=f"detection at budget {summary['budget']:.1%}" +
                      ("" if summary["has_truth"] else " (no true labels: truth metrics unavailable)"))
        for column in ("method", "flagged", "precision", "recall", "F1", "AUROC", "AP", "P@#noisy"):
            table.add_column(column, justify="right" if column != "method" else "left")
        for row in summary["detectors"]:
            table.add_row(row["method"], str(row["n_flagged"]), *(_fmt(row[k]) for k in (
                "precision", "recall", "f1", "auroc", "ap", "precision_at_truth")))
        out.print(table)
    if summary["retrain"]:
        table = Table(title="test accuracy after pruning")
        for column in ("detector", "budget", "mode", "removed", "truly noisy removed", "test accuracy"):
            table.add_column(column)
        for row in summary["retrain"]:
            table.add_row(row["detector"], f"{row['budget']:.1%}", row["mode"], str(row["n_removed"]),
                          _fmt_int(row["n_removed_noisy"]), f"{row['test_accuracy']:.4f}")
        out.print(table)


def _fmt(value) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


def _fmt_int(value) -> str:
    return "-" if value is None or value != value else str(int(value))


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
    _print_budget_table(budget_curve(run_dir, detectors, mode=mode, reporter=ConsoleReporter()))


def _print_budget_table(curve) -> None:
    table = Table(title="test accuracy vs budget")
    table.add_column("detector")
    for budget in sorted(curve.budget.unique()):
        table.add_column(f"{budget:.1%}", justify="right")
    for name, part in curve.groupby("detector", sort=False):
        table.add_row(name, *(f"{acc:.4f}" for acc in part.sort_values("budget").test_accuracy))
    out.print(table)


@app.command()
@friendly
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="Reduced sizes (a few minutes on 2 cores).")] = False,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Write {name, value, unit, target, met} records here.")] = None,
) -> None:
    """Benchmarks that print speed and memory ratios measured in one run (docs/benchmarks.md)."""
    from core.bench.run import bench as run_bench

    run_bench(quick=quick, json_path=json_path)


@app.command()
def datasets() -> None:
    """List the registered datasets and the path formats."""
    from core.data.registry import DATASETS, PATH_FORMATS

    for name in DATASETS:
        out.print(f"[bold]{name:12}[/] {DATASETS.help(name)}", highlight=False)
    for name in PATH_FORMATS:
        out.print(f"[bold]PATH {name:7}[/] {PATH_FORMATS.help(name)}", highlight=False)


@app.command()
def models() -> None:
    """List the registered models."""
    from core.models.registry import MODELS

    for name in MODELS:
        entry = MODELS.entry(name)
        out.print(f"[bold]{name:14}[/] {entry.help} ({', '.join(entry.meta['kinds'])})", highlight=False)


@app.command()
def detectors() -> None:
    """List the registered outlier detectors (scores: higher = more outlying)."""
    from core.detect.registry import DETECTORS

    for name in DETECTORS:
        out.print(f"[bold]{name:8}[/] {DETECTORS.help(name)}", highlight=False)


def _launch_dashboard(runs_dir: Path, address: str, port: int) -> None:
    app_path = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    env = dict(os.environ, GRADSIFT_RUNS_DIR=str(runs_dir.resolve()))
    env.setdefault("GRADSIFT_DATA_ROOTS", os.getcwd())
    command = [sys.executable, "-m", "streamlit", "run", str(app_path), "--server.address", address,
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.enableXsrfProtection", "true"]
    console.print(f"dashboard on http://{address}:{port} (runs from {runs_dir}); Ctrl+C stops it")
    # Streamlit reads .streamlit/config.toml (theme, loopback, XSRF) from its working directory.
    raise typer.Exit(subprocess.call(command, env=env, cwd=app_path.parent.parent))


AddressOption = Annotated[str, typer.Option(help="Address the dashboard listens on (loopback by default).")]
PortOption = Annotated[int, typer.Option(help="Dashboard port.")]


@app.command()
@friendly
def dashboard(
    runs_dir: Annotated[Path, typer.Argument(help="Directory holding run directories.")] = DEFAULT_RUNS_DIR,
    address: AddressOption = "127.0.0.1",
    port: PortOption = 8501,
) -> None:
    """Start the data-inspection dashboard on the runs in RUNS_DIR."""
    _launch_dashboard(runs_dir, address, port)


@app.command()
@friendly
def demo(
    runs_dir: Annotated[Path, typer.Option(help="Where the demo run is stored.")] = DEFAULT_RUNS_DIR,
    address: AddressOption = "127.0.0.1",
    port: PortOption = 8501,
    no_dashboard: Annotated[bool, typer.Option("--no-dashboard", help="Only analyze; don't start the dashboard.")] = False,
) -> None:
    """Analyze the embedded digits dataset (cached after the first time) and open the dashboard."""
    from core.config import RunConfig
    from core.pipeline.runner import analyze as run_analysis

    run = run_analysis(RunConfig(), runs_dir / "digits", reporter=ConsoleReporter())
    _print_info(run.path)
    if not no_dashboard:
        _launch_dashboard(runs_dir, address, port)


reproduce_app = typer.Typer(help="Reproduce the paper's experiments (Table 1, Fig. 5, Table 2, Table 3).",
                            no_args_is_help=True)
app.add_typer(reproduce_app, name="reproduce")


def _pm(mean: float, std: float) -> str:
    return f"{mean:.1f} ± {0 if std != std else std:.1f}"


@reproduce_app.command("table1")
@friendly
def reproduce_table1(
    seeds: Annotated[int, typer.Option(help="Seeds (data, noise, training) to average over.")] = 3,
    out_dir: Annotated[Path, typer.Option("--out", help="Where runs, CSV and plot go.")] = DEFAULT_RUNS_DIR / "reproduce" / "table1",
) -> None:
    """Both synthetic setups, all 12 methods, mean ± std over seeds, next to the paper's numbers."""
    from core.protocols.paper import plot_table1, summarize_table1, table1

    results = table1(out_dir, seeds=seeds, reporter=ConsoleReporter() if _state["debug"] else None)
    summary = summarize_table1(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    results.to_csv(out_dir / "table1_runs.csv", index=False)
    summary.to_csv(out_dir / "table1.csv", index=False)
    plot_table1(summary, out_dir / "table1.png")
    for setup, part in summary.groupby("setup", sort=False):
        table = Table(title=f"{setup} (base test accuracy {_pm(part.base_test_accuracy_mean.iloc[0], part.base_test_accuracy_std.iloc[0])}"
                      + (f"; paper {part.paper_base_test_accuracy.iloc[0]:.1f}" if part.paper_base_test_accuracy.notna().any() else "") + ")")
        for column in ("method", "detection acc. %", "paper", "test acc. % after trimming", "paper", "AUROC"):
            table.add_column(column, justify="left" if column == "method" else "right")
        for row in part.itertuples():
            table.add_row(row.method, _pm(row.detection_accuracy_mean, row.detection_accuracy_std),
                          _fmt_paper(row.paper_detection_accuracy),
                          _pm(row.test_accuracy_mean, row.test_accuracy_std), _fmt_paper(row.paper_test_accuracy),
                          f"{row.auroc_mean:.3f}")
        out.print(table)
    out.print(f"wrote {out_dir / 'table1.csv'}, {out_dir / 'table1_runs.csv'} and {out_dir / 'table1.png'}")


def _fmt_paper(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


@reproduce_app.command("budget-curve")
@friendly
def reproduce_budget_curve(
    run_dir: Annotated[Optional[Path], typer.Option("--run", help="An analyzed run (default: analyze digits).")] = None,
    detector: Annotated[Optional[list[str]], typer.Option("--detector", help="Detector(s); default iforest, l1, l2.")] = None,
    mode: Annotated[str, typer.Option(help="full (retrain the model) or probe (last layer only).")] = "full",
    out_dir: Annotated[Path, typer.Option("--out", help="Where CSV and plot go.")] = DEFAULT_RUNS_DIR / "reproduce" / "budget-curve",
) -> None:
    """Test accuracy vs budget k from 0 to 12.5% in 2.5% steps (the paper's Fig. 5)."""
    from core.config import RunConfig
    from core.pipeline.runner import analyze as run_analysis
    from core.protocols.paper import budget_curve, plot_budget_curve

    if run_dir is None:
        run_dir = run_analysis(RunConfig(), DEFAULT_RUNS_DIR / "digits", reporter=ConsoleReporter()).path
    curve = budget_curve(run_dir, tuple(detector or ("iforest", "l1", "l2")), mode=mode, reporter=ConsoleReporter())
    out_dir.mkdir(parents=True, exist_ok=True)
    curve.to_csv(out_dir / "budget_curve.csv", index=False)
    plot_budget_curve(curve, out_dir / "budget_curve.png", f"{run_dir} ({mode} retraining)")
    _print_budget_table(curve)
    out.print(f"wrote {out_dir / 'budget_curve.csv'} and {out_dir / 'budget_curve.png'}")


@reproduce_app.command("cifar-n")
@friendly
def reproduce_cifar_n(
    data_dir: Annotated[Path, typer.Option(help="Directory with cifar-10-batches-py/ (or cifar-100-python/) and the CIFAR-N .pt file.")],
    noise: Annotated[str, typer.Option(help="aggregate, random1, random2, random3, worst, or noisy100 (CIFAR-100N).")] = "worst",
    epochs: Annotated[int, typer.Option(help="Training epochs (the paper: 100; needs a GPU).")] = 100,
    model: Annotated[str, typer.Option(help="resnet34 (the paper) or any image model.")] = "resnet34",
    seeds: Annotated[int, typer.Option(help="Runs to average (the paper: 5).")] = 1,
    batch_size: Annotated[int, typer.Option(help="Batch size (the paper: 128).")] = 128,
    out_dir: Annotated[Path, typer.Option("--out", help="Where runs and CSV go.")] = DEFAULT_RUNS_DIR / "reproduce" / "cifar-n",
) -> None:
    """Table 2's protocol: ResNet-34, SGD 0.1/0.9/5e-4, batch 128, prune k = 5% and retrain."""
    from core.protocols.paper import PAPER_TABLE2, cifar_n

    results = cifar_n(out_dir, str(data_dir), noise, epochs, model, seeds, batch_size, reporter=ConsoleReporter())
    out_dir.mkdir(parents=True, exist_ok=True)
    results.to_csv(out_dir / f"cifar_n_{noise}.csv", index=False)
    summary = results.groupby("method", sort=False).test_accuracy.agg(["mean", "std"])
    paper = PAPER_TABLE2.get(noise)
    table = Table(title=f"CIFAR-N {noise}, {model}, {epochs} epochs, {seeds} seed(s)")
    for column in ("method", "test accuracy %", "paper"):
        table.add_column(column)
    paper_values = {"no trimming": paper[1], "iforest": paper[2]} if paper else {}
    for method, row in summary.iterrows():
        best = paper[3] if paper and method in ("l1", "l2") and paper[3].endswith(f"({method.upper()})") else None
        table.add_row(method, _pm(row["mean"], row["std"]),
                      best.split()[0] if best else _fmt_paper(paper_values.get(method, float("nan")), 2))
    out.print(table)


from core.cli.table3_command import reproduce_table3  # noqa: E402  (kept light: no torch at import)

reproduce_app.command("table3")(friendly(reproduce_table3))


if __name__ == "__main__":
    app()
