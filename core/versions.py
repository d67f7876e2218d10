"""Installed package versions: recorded in every manifest and compared across Dask workers."""

from __future__ import annotations

from importlib import metadata

RECORDED_PACKAGES = ("gradsift", "torch", "torchvision", "numpy", "scikit-learn", "pandas", "pyarrow", "umap-learn",
                     "cleanlab")


def installed_version(package: str) -> str:
    """The installed distribution's version, or "not installed"."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def package_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour a run's results depend on."""
    return {name: installed_version(name) for name in RECORDED_PACKAGES}
