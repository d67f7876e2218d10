"""Range checks of config fields, shared by every config dataclass (core.config, core.review.config): one-line
ConfigErrors naming the field. Light: imports nothing but the errors."""

from core.errors import ConfigError


def check_fraction(name: str, value: float, *, low_open: bool = True, high_open: bool = True) -> None:
    """ConfigError unless `value` lies in the unit interval, each end open or closed as asked."""
    low_ok = value > 0 if low_open else value >= 0
    high_ok = value < 1 if high_open else value <= 1
    if not (low_ok and high_ok):
        lo = "(0" if low_open else "[0"
        hi = "1)" if high_open else "1]"
        raise ConfigError(f"{name} must be in {lo}, {hi}, got {value!r}")


def check_at_least(name: str, value: float, low: float) -> None:
    """ConfigError unless `value` >= `low` (NaN fails too)."""
    if not value >= low:
        raise ConfigError(f"{name} must be >= {low}, got {value!r}")
