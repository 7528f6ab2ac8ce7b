"""Reading a segmentation from Label Studio JSON: which brush results are the lesion, decoded.

A Label Studio config may hold several brush labels (the lesion, and a hair or ruler layer): the lesion's
mask is its own label's brushes, never the union of every layer. An annotation drawn with another tool (a
polygon, a rectangle) is refused with its place in the file: read as "no brush", it was silently no mask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lesionlab.errors import DataError
from lesionlab.project import brush_rle

SHAPES = ("polygonlabels", "polygon", "rectanglelabels", "rectangle", "ellipselabels", "ellipse")


def _names(r: dict) -> set[str]:
    value = r.get("value")
    names = value.get("brushlabels") if isinstance(value, dict) else None
    return {str(n).strip().casefold() for n in names} if isinstance(names, list) else set()


def lesion_names(label: str, tasks: list[Any], path: Path) -> set[str] | None:
    """The brush labels that mark the lesion: all (None) when the file uses one; of several (a lesion
    and a hair or ruler layer, say), the project's lesion label alone, never the union of them all."""
    names: set[str] = set()
    for task in (t for t in tasks if isinstance(t, dict)):
        for ann in (a for a in task.get("annotations") or [] if isinstance(a, dict)):
            for r in (r for r in ann.get("result") or [] if isinstance(r, dict)):
                names |= _names(r) if r.get("type") == "brushlabels" else set()
    lesion = label.casefold()
    if len(names) <= 1:
        return None
    if lesion not in names:
        raise DataError(
            f"{path}: its brush masks carry several labels ({', '.join(sorted(names))}) and none is this "
            f"project's lesion label {label!r}; keep the lesion's brushes only, or name it so"
        )
    return {lesion}


def brush_mask(result: list[dict], size: tuple[int, int], where: str, lesion: set[str] | None = None) -> Any:
    """The union of an annotation's brush masks of the lesion's labels (None if it has none); a shape
    that is not a brush (a polygon, a rectangle) is refused rather than read as no mask."""
    if not any(r.get("type") == "brushlabels" for r in result):
        shape = next((r.get("type") for r in result if r.get("type") in SHAPES), None)
        if shape is not None:
            raise DataError(
                f"{where}: a {shape} result is not a brush mask; lesionlab imports masks drawn with Label "
                "Studio's BrushLabels (turn the outlines into brush masks first)"
            )
    masks = []
    for r in (r for r in result if r.get("type") == "brushlabels"):
        if lesion is not None and not _names(r) & lesion:
            continue  # another layer (hair, ruler): not the lesion
        value = r.get("value")
        rle = value.get("rle") if isinstance(value, dict) else None
        if not isinstance(rle, list):
            raise DataError(f"{where}: a brushlabels result needs value.rle (Label Studio's brush RLE)")
        shown = (r.get("original_width"), r.get("original_height"))
        if shown != size:
            raise DataError(
                f"{where}: the mask is drawn on a {shown[0]}x{shown[1]} image, but the project's image is "
                f"{size[0]}x{size[1]}; is it the same image?"
            )
        try:
            masks.append(brush_rle.decode_mask(rle, *size))
        except DataError as exc:
            raise DataError(f"{where}: {exc}") from exc
    return np.logical_or.reduce(masks) if masks else None
