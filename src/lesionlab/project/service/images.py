"""Images as the model sees them, for the page: decoded by `open_rgb` (EXIF orientation applied, alpha on
white), so what an expert draws on is pixel for pixel what training, scoring and evaluation read.

Each decoded image is cached on disk under `cache/served/`, named by the SHA-256 of the file's bytes (a
replaced file is a new entry; an unchanged one is decoded once). Small images are sent as PNG; above
`PNG_MAX_PIXELS` as JPEG at quality 95, which keeps a 12-megapixel photograph to a few megabytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lesionlab.data.fingerprint import content_key
from lesionlab.data.preprocess import open_rgb
from lesionlab.errors import DataError
from lesionlab.io import atomic_file
from lesionlab.project.exceptions import NotFound
from lesionlab.project.project import Project

PNG_MAX_PIXELS = 4_000_000
JPEG_QUALITY = 95


@dataclass(frozen=True)
class ServedImage:
    path: Path
    media_type: str
    width: int
    height: int


def showable_row(project: Project, image_id: str):
    """The image's row, if the page can show it now: known, usable, and its file decodes (the served copy
    is made here if no page has asked for it yet). Every action that stores an annotation or a decision
    checks this first: nothing the page could not show is annotated or decided."""
    row = project.store.image(image_id)
    if row is None:
        raise NotFound(f"no image {image_id!r} in this project")
    if row.status != "ok":
        raise NotFound(f"image {image_id!r} is {row.status} and cannot be annotated")
    served_image(project, image_id)  # NotFound when it vanished or no longer decodes
    return row


def served_image(project: Project, image_id: str) -> ServedImage:
    """The cached decoded image of a usable image; NotFound for unknown, corrupt or vanished ones."""
    source = project.image_path(image_id)
    if source is None:
        raise NotFound(f"no usable image {image_id!r} in this project")
    try:
        digest = content_key(source)
    except OSError as exc:
        raise NotFound(f"image {image_id!r} cannot be read: {exc}") from exc
    folder = project.cache_dir / "served"
    for suffix, media in ((".png", "image/png"), (".jpg", "image/jpeg")):
        cached = folder / f"{digest}{suffix}"
        size = folder / f"{digest}{suffix}.size"
        if cached.is_file() and size.is_file():
            width, height = (int(v) for v in size.read_text().split("x"))
            return ServedImage(cached, media, width, height)
    return _decode(source, folder, digest, image_id)


def _decode(source: Path, folder: Path, digest: str, image_id: str) -> ServedImage:
    try:
        im = open_rgb(source)
    except DataError as exc:
        raise NotFound(f"image {image_id!r} does not decode: {exc}") from exc
    width, height = im.size
    png = width * height <= PNG_MAX_PIXELS
    suffix, media = (".png", "image/png") if png else (".jpg", "image/jpeg")
    folder.mkdir(parents=True, exist_ok=True)
    cached = folder / f"{digest}{suffix}"
    with atomic_file(cached) as fh:
        if png:
            im.save(fh, format="PNG", compress_level=1)
        else:
            im.save(fh, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    with atomic_file(folder / f"{digest}{suffix}.size", "w") as fh:  # written last: marks the entry whole
        fh.write(f"{width}x{height}")
    return ServedImage(cached, media, width, height)
