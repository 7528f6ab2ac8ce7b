"""The versions every result file records, so a number can be traced to the software that produced it."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

PACKAGES = ("lesionlab", "torch", "torchvision", "timm", "numpy", "scikit-learn", "scipy")


def versions() -> dict[str, str]:
    """Python and the installed version of each package in `PACKAGES` ("not installed" if absent)."""
    return {"python": platform.python_version(), **package_versions(PACKAGES)}


def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    """The installed version of each named distribution ("not installed" if absent)."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
