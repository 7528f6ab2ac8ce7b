"""Images as the model sees them, for the page: decoded by `open_rgb` (EXIF orientation applied, alpha on
white), so what an expert draws on is pixel for pixel what training, scoring and evaluation read.

Each decoded image is cached on disk under `cache/served/`, named by the SHA-256 of the file's bytes (a
replaced file is a new entry; an unchanged one is decoded once). Small images are sent as PNG; above
`PNG_MAX_PIXELS` as JPEG at quality 95, which keeps a 12-megapixel photograph to a few megabytes. The
page's full-resolution view asks for the same pixels losslessly (`lossless_image`, PNG, made on demand).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lesionlab.data.fingerprint import content_key
from lesionlab.data.preprocess import open_rgb
from lesionlab.errors import DataError
from lesionlab.io import atomic_file
from lesionlab.project.exceptions import NotFound
from lesionlab.project.metadata import image_metadata
from lesionlab.project.project import Project

PNG_MAX_PIXELS = 4_000_000
JPEG_QUALITY = 95


@dataclass(frozen=True)
class ServedImage:
    path: Path
    media_type: str
    width: int
    height: int

    @property
    def lossless(self) -> bool:
        return self.media_type == "image/png"


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


def lossless_image(project: Project, image_id: str) -> ServedImage:
    """The served image's pixels as PNG: itself when it is a PNG already, else decoded again and kept
    beside the JPEG (`<digest>.lossless.png`), for the page's full-resolution view."""
    served = served_image(project, image_id)
    if served.lossless:
        return served
    cached = served.path.with_name(f"{served.path.stem}.lossless.png")
    if not cached.is_file():
        source = project.image_path(image_id)
        try:
            im = open_rgb(source)
        except (DataError, TypeError) as exc:
            raise NotFound(f"image {image_id!r} does not decode: {exc}") from exc
        if im.size != (served.width, served.height):  # replaced since: the page must reload
            raise NotFound(f"image {image_id!r} changed on disk; reload the page")
        with atomic_file(cached) as fh:
            im.save(fh, format="PNG", compress_level=1)
    return ServedImage(cached, "image/png", served.width, served.height)


def image_details(project: Project, image_id: str) -> dict:
    """What the page shows beside the image: its size as shown (EXIF applied), its file's format and
    size, whether it is sent losslessly, and its metadata row (`project init --metadata`)."""
    row = showable_row(project, image_id)
    served = served_image(project, image_id)
    source = project.image_path(image_id)
    file = None
    if source is not None:
        fmt = source.suffix.lstrip(".").upper().replace("JPG", "JPEG")
        file = {"format": fmt, "kb": round(source.stat().st_size / 1024, 1)}
    return {
        "image_id": image_id,
        "width": row.width,
        "height": row.height,
        "file": file,
        "served": {"media_type": served.media_type, "lossless": served.lossless},
        "metadata": image_metadata(project.dir, image_id),
    }
