"""Error types whose messages are shown to users as one line (no traceback unless --debug)."""


class GradsiftError(Exception):
    """Base for every error caused by input, configuration or the run directory, not by a bug."""


class ConfigError(GradsiftError, ValueError):
    """A configuration value is invalid; the message names the field and what was expected."""


class DataError(GradsiftError, ValueError):
    """A dataset cannot be read or is malformed; the message names the file/field, expected and found."""


class RunDirError(GradsiftError):
    """A run directory is missing, incomplete, corrupted, or was written by another config or schema."""
