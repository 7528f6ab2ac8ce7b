"""Mask files of a project: decoding uploads with the one mask rule, writing them atomically, and each
image's consensus mask (a pixel vote of its annotators' masks, written under `masks/consensus/`).

Files are named by the image's key in the database, never by its id (an id is a path under the images
folder and may hold characters a file name cannot). Each save keeps its own file, so the history can be
read back; a consensus file's name carries a digest of the annotations it fuses (their ids and files) and
of the fusing rule, so a changed vote writes a new file and an unchanged one is read, not fused again.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from lesionlab.data.preprocess import mask_foreground, open_mask, orient, oriented_size
from lesionlab.errors import DataError
from lesionlab.io import atomic_file
from lesionlab.project.consensus import FUSE_RULE, Consensus, mask_consensus
from lesionlab.project.exceptions import Invalid, NotFound

if TYPE_CHECKING:
    from lesionlab.project.models import ImageRow
    from lesionlab.project.project import Project
    from lesionlab.project.standing import Standing


@dataclass(frozen=True)
class MaskConsensus:
    """One image's mask consensus and the file to train on (None unless usable)."""

    consensus: Consensus
    path: Path | None


def decode_png(data: bytes, row: ImageRow) -> np.ndarray:
    """The boolean (H, W) mask a PNG holds, by `mask_foreground` after its EXIF orientation (as `open_mask`,
    which training reads masks with), checked to be the image's oriented size before any pixel is decoded:
    a 20 kB PNG can declare 12,000 x 12,000 pixels, and the body limit counts bytes, not pixels."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "PNG":
                raise Invalid(f"a mask must be a PNG, got {im.format}")
            size = oriented_size(im)  # read from the header: no pixel is decoded
            if size != (row.width, row.height):
                raise Invalid(
                    f"the mask is {size[0]}x{size[1]}, but image {row.image_id!r} is {row.width}x{row.height}"
                )
            im.load()
            return mask_foreground(orient(im))  # EXIF applied, as open_mask (training) reads the file
    except (OSError, ValueError, EOFError, SyntaxError, struct.error, Image.DecompressionBombError) as exc:
        raise Invalid(f"the mask does not decode: {exc}") from exc


def usable_row(project: Project, image_id: str) -> ImageRow:
    row = project.store.image(image_id)
    if row is None or row.status != "ok":
        raise NotFound(f"no usable image {image_id!r} in this project")
    return row


def write_png(target: Path, mask: np.ndarray) -> None:
    """A boolean mask as a 0/255 grey PNG, atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target) as fh:
        Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(fh, format="PNG")


def new_mask_file(project: Project, image_key: int) -> Path:
    return project.masks_dir / f"{int(image_key)}-{secrets.token_hex(6)}.png"


def inside_masks(project: Project, rel: str | None) -> Path | None:
    """The file of a stored mask path, if it is a file inside the masks folder (else None)."""
    if rel is None:
        return None
    path = (project.dir / rel).resolve()
    return path if path.is_relative_to(project.masks_dir.resolve()) and path.is_file() else None


# In-process memo keyed by the project folder, the vote (the image, its annotations' ids and mask files)
# and the settings that judge it.
_FUSED: dict[tuple[object, ...], MaskConsensus] = {}


def consensus_of(project: Project, st: Standing) -> MaskConsensus:
    """The consensus of one image's standing masks; an agreed vote of several is fused into a file."""
    overlap, min_dice = project.config.overlap, project.config.consensus_min_dice
    if st.adjudication is not None:
        path = inside_masks(project, st.adjudication.mask_path)
        return MaskConsensus(Consensus("adjudicated", None, "decided by a reviewer"), path)
    rows = sorted(st.raters.values(), key=lambda a: a.id)
    if len(rows) == 1 and overlap == 1:  # one annotator's mask is its own consensus: no file to write
        return MaskConsensus(
            Consensus("agreed", None, "agreed: one mask"), inside_masks(project, rows[0].mask_path)
        )
    vote = tuple((a.id, a.mask_path) for a in rows)
    memo = (str(project.dir), st.image_key, vote, overlap, min_dice)
    if memo in _FUSED and (_FUSED[memo].path is None or _FUSED[memo].path.is_file()):
        return _FUSED[memo]
    files = [inside_masks(project, a.mask_path) for a in rows]
    masks = [open_mask(f) for f in files if f is not None]
    cons, fused = mask_consensus(masks, overlap, min_dice)
    path = None
    if fused is not None:
        # the rule and the mask files (random names, one per save) in the name: a file fused by another
        # rule, or left by an earlier database whose annotation ids were the same, is never taken
        named = FUSE_RULE + "|" + ",".join(f"{i}:{m}" for i, m in vote)
        digest = hashlib.sha256(named.encode()).hexdigest()[:16]
        path = project.masks_dir / "consensus" / f"{st.image_key}-{digest}.png"
        if not path.is_file():
            write_png(path, fused)
    _FUSED[memo] = MaskConsensus(cons, path)
    return _FUSED[memo]


def mask_consensus_all(project: Project) -> dict[str, MaskConsensus]:
    """Each usable image with a standing mask: its mask consensus."""
    return {iid: consensus_of(project, st) for iid, st in project.store.standing("mask").items()}


def refuse_case_clashes(folder: Path, ids: list[str]) -> None:
    """DataError naming two ids that differ only in case, when `folder` does not tell them apart."""
    import unicodedata

    by_fold: dict[str, str] = {}
    for image_id in ids:  # as such file systems compare names: case and Unicode form ignored
        other = by_fold.setdefault(unicodedata.normalize("NFC", image_id).casefold(), image_id)
        if other != image_id and not case_sensitive(folder):
            raise DataError(
                f"images {other!r} and {image_id!r} differ only in case, and {folder} is on a file system "
                "that does not tell their mask files apart (one would replace the other): export to a "
                "case-sensitive folder, or rename one of the images"
            )


def case_sensitive(folder: Path) -> bool:
    """Whether `folder`'s file system tells `a` from `A` (a probe file, removed at once)."""
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(prefix="lesionlab_case_probe_", dir=folder) as probe:
            name = Path(probe.name).name
            return not (folder / name.upper()).exists()
    except OSError as exc:
        raise DataError(
            f"cannot write in {folder} ({exc.strerror or exc}): export to a folder you can write"
        ) from exc
