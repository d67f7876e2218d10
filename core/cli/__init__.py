"""The `gradsift` command line (core.cli.main holds the commands)."""

from core.cli.main import app

__all__ = ["app"]
