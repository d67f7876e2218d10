"""The `gradsift` command: every command module registered on one typer app.

Commands live one family per module (analyze, runs, review, export, dashboard, users, listing, reproduce);
options of `analyze` come from the config's fields (core.cli.options).
"""

from core.cli import analyze, runs, review, export, dashboard, users, listing, reproduce  # noqa: F401, I001  (importing registers the commands, in this order)
from core.cli.app import app

__all__ = ["app"]

if __name__ == "__main__":
    app()
