"""The typer application, its error handling, progress printing and table output.

Thin on purpose: no computation in core.cli. Heavy modules are imported inside commands
so `gradsift --help` answers instantly. Errors caused by input (GradsiftError) print one
line and exit with status 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from core.errors import GradsiftError

app = typer.Typer(
    name="gradsift",
    help="Find the training samples that hurt a model (Outlier Gradient Analysis), review them, prove the clean-up.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
reproduce_app = typer.Typer(help="Reproduce the paper's experiments (Table 1, Fig. 5, Table 2, Table 3).",
                            no_args_is_help=True)
app.add_typer(reproduce_app, name="reproduce")

console = Console(stderr=True, soft_wrap=True)
"""Progress and errors (stderr)."""
out = Console(soft_wrap=True)
"""Results (stdout)."""
state = {"debug": False}

DEFAULT_RUNS_DIR = Path("runs")
AddressOption = Annotated[str, typer.Option(help="Address the dashboard listens on (loopback by default).")]
PortOption = Annotated[int, typer.Option(help="Dashboard port.")]


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False) -> None:
    state["debug"] = debug


def friendly(command):
    """Turn GradsiftError into a one-line message and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except GradsiftError as exc:
            if state["debug"]:
                raise
            console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


class ConsoleReporter:
    """Prints stage lines; tqdm draws the per-epoch bars underneath."""

    show_bars = True

    def stage(self, name: str, index: int, total: int, skipped: bool) -> None:
        status = "[dim]cached[/]" if skipped else "running"
        console.print(f"[bold][{index + 1}/{total}][/] {name}: {status}")

    def message(self, text: str) -> None:
        console.print(f"      {text}", highlight=False)


def print_table(table: Table) -> None:
    """Print a table at its natural width, whatever the terminal (or pipe) width: no cell is cut."""
    needed = Measurement.get(out, out.options.update(max_width=100_000), table).maximum
    terminal = out.width
    out.width = max(terminal, needed)  # Console.print caps its width argument at the console's width
    try:
        out.print(table, highlight=False)
    finally:
        out.width = terminal


def table(title: str, columns: list[str], right: tuple[str, ...] = ()) -> Table:
    """A results table whose cells never wrap or get ellipsized (see `print_table`)."""
    result = Table(title=title)
    for column in columns:
        result.add_column(column, justify="right" if column in right else "left", no_wrap=True, overflow="ignore")
    return result
