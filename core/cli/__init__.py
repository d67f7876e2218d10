"""The `gradsift` command line (core.cli.main assembles it)."""
