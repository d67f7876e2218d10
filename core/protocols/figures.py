"""Matplotlib set-up shared by the protocols' figures: the headless backend, side-by-side panels, one save."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """matplotlib.pyplot on the Agg backend (the protocols run without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def panels(count: int, width: float, height: float):
    """(figure, axes) with `count` panels side by side, each `width` × `height` inches; axes is a list."""
    fig, axes = pyplot().subplots(1, count, figsize=(width * count, height), squeeze=False)
    return fig, list(axes[0])


def save(fig, path: Path) -> None:
    """Lay out, write at 120 dpi, and free `fig`."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
