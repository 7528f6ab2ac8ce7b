"""Finding the images of a project's folder and checking that each one decodes.

An image's id is its path under the folder without the suffix ('/'-separated for sub-folders), the
`image_id` an ISIC-style CSV uses. A file that does not decode is recorded as corrupt with the reason and
left out of proposals and the queue; it never stops a command or the server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from lesionlab.data.files import image_files_under, is_link_loop, missing_file_reason
from lesionlab.data.fingerprint import content_key
from lesionlab.data.preprocess import orient, oriented_size, to_rgb8
from lesionlab.errors import DataError
from lesionlab.progress import progress


def image_files(folder: Path) -> list[Path]:
    """Image files under `folder` (any depth, hidden files skipped), sorted; links to folders are not
    followed (`image_files_under`), so a link loop cannot list files forever."""
    if not folder.is_dir():
        if is_link_loop(folder):
            raise DataError(f"images folder {folder} is a symbolic link loop; give the real folder")
        raise DataError(f"images folder {folder} does not exist; give the folder that holds the images")
    return image_files_under(folder)


# The files ISIC keeps beside its images (the 2017 training download holds a superpixel map per image) and
# masks kept beside their images: scanned as images, they were offered to experts to label or draw on.
_NOT_IMAGES = re.compile(r"_(superpixels|segmentation|attribute_[a-z_]+)$", re.IGNORECASE)


def not_an_image(path: Path) -> str | None:
    """Why a file named as ISIC names its masks and superpixel maps is not an image to annotate."""
    if path.suffix.lower() != ".png" or not _NOT_IMAGES.search(path.stem):
        return None
    return (
        f"named as ISIC names masks and superpixel maps (*{_NOT_IMAGES.search(path.stem).group(0)}.png), "
        "not an image to annotate; import masks with project import, or rename the file"
    )


def image_id(folder: Path, path: Path) -> str:
    return path.relative_to(folder).with_suffix("").as_posix()


def inspect_image(path: Path) -> dict[str, Any]:
    """Size, content hash, pixel size and status of a file (corrupt, with the reason, if unreadable).

    The pixels go through the decoder's own conversion (`to_rgb8` after EXIF orientation), so a file
    counts as ok exactly when training and the page can show it."""
    info: dict[str, Any] = {"size_bytes": None, "sha256": None, "width": None, "height": None}
    why = not_an_image(path)
    if why is not None:
        return {**info, "status": "not_image", "problem": why}
    try:
        info["size_bytes"] = path.stat().st_size
        info["sha256"] = content_key(path)
        with Image.open(path) as im:
            info["width"], info["height"] = oriented_size(im)  # as shown, drawn on and trained on
            im.load()  # decodes every pixel: a truncated file fails here, not in training
            to_rgb8(orient(im), path)
    except FileNotFoundError:
        return {**info, "status": "missing", "problem": "file not found"}
    except DataError as exc:  # a mode lesionlab cannot convert, a float image with NaN
        return {**info, "status": "corrupt", "problem": str(exc).removeprefix(f"{path} ")}
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        if is_link_loop(path):
            return {**info, "status": "corrupt", "problem": missing_file_reason(path)}
        return {**info, "status": "corrupt", "problem": f"does not decode: {exc}"}
    return {**info, "status": "ok", "problem": None}


@dataclass
class ScanResult:
    rows: list[dict[str, Any]]
    duplicates: list[Path]  # files whose id another file already has (e.g. a.jpg and a.png)

    @property
    def problems(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] != "ok"]


def scan_folder(folder: Path, show_progress: bool = True) -> ScanResult:
    """Every image of `folder`, inspected; files sharing an id are reported, the first one kept."""
    files = image_files(folder)
    rows, duplicates, kept = [], [], set()
    for path in progress(files, "checking images", total=len(files), enabled=show_progress):
        iid = image_id(folder, path)
        if iid in kept:
            duplicates.append(path)
            continue
        kept.add(iid)
        rows.append({"image_id": iid, "path": path.relative_to(folder).as_posix(), **inspect_image(path)})
    return ScanResult(rows, duplicates)
