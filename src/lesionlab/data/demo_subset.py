"""The small ISIC 2017 subset shipped inside the package, so demos and tests run without downloads."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from lesionlab.errors import DataError


def demo_root(subset: str = "isic2017") -> Path:
    """Folder of an embedded ISIC 2017 demo subset, in the official layout (read it with `load_isic2017`):
    `isic2017` (the small subset, with masks) or `isic2017_pool` (the `sk` demo's pool, val and test)."""
    resource = files("lesionlab") / "demo_data" / subset
    if not isinstance(resource, Path):
        raise DataError(
            f"the demo data is inside an archive ({resource}); install lesionlab as a normal "
            "(unzipped) package to use it"
        )
    if not resource.is_dir():
        raise DataError(
            f"demo data not found at {resource}: reinstall lesionlab, or in a source checkout run "
            "scripts/make_demo_subset.py"
        )
    return resource
