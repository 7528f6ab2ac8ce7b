"""A project folder: its config, its database and the files it writes (masks, models, caches).

```
DIR/project.yaml      task, classes, images folder, database URL, strategy, training settings
DIR/project.db        the SQLite database (unless `database` points at a server)
DIR/masks/            mask PNGs, written atomically, named by the image's key in the database
DIR/models/vNNNN/     one folder per trained model version (checkpoint + metrics)
DIR/cache/            decoded images and trunk activations (safe to delete)
```
The images folder is only read.
"""

from __future__ import annotations

import io
import secrets
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from lesionlab.data.records import Record
from lesionlab.errors import ConfigError, DataError
from lesionlab.io import atomic_file
from lesionlab.project.config import (
    CONFIG_NAME,
    ProjectConfig,
    read_project_config,
    write_project_config,
)
from lesionlab.project.scan import ScanResult, inspect_image, scan_folder
from lesionlab.project.store import LABEL_SOURCES, ProjectStore


@dataclass
class Project:
    """An open project: `dir`, `config` and `store` (close it when done)."""

    dir: Path
    config: ProjectConfig
    store: ProjectStore
    scan: ScanResult | None = field(default=None, repr=False)

    @property
    def images_dir(self) -> Path:
        return self.config.images_dir(self.dir)

    @property
    def classes(self) -> list[str]:
        return list(self.config.classes)

    @property
    def masks_dir(self) -> Path:
        return self.dir / "masks"

    @property
    def models_dir(self) -> Path:
        return self.dir / "models"

    @property
    def cache_dir(self) -> Path:
        return self.dir / "cache"

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ paths inside the project
    def image_path(self, image_id: str) -> Path | None:
        """The file of a known, usable image, or None; never a path outside the images folder."""
        row = self.store.image(image_id)
        if row is None or row.status != "ok":
            return None
        root = self.images_dir
        path = (root / row.path).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path

    def new_mask_file(self, image_key: int) -> Path:
        """A fresh file for one saved mask (named by the image's key, never by its id): each save keeps its
        own file, so undoing a mask brings the earlier one back."""
        return self.masks_dir / f"{int(image_key)}-{secrets.token_hex(6)}.png"

    def mask_path(self, image_id: str, model: bool = False) -> Path | None:
        """The file of the image's newest standing expert (or imported) mask, or with `model` the model's
        proposed one; None if there is none."""
        rel = self.store.mask_path(image_id, ("model",) if model else LABEL_SOURCES)
        if rel is None:
            return None
        path = (self.dir / rel).resolve()
        return path if path.is_relative_to(self.masks_dir.resolve()) and path.is_file() else None

    def class_index(self, label: str | int) -> int:
        """A class given by name (case-insensitive) or index, as an index; DataError if it is not one."""
        if isinstance(label, int) and not isinstance(label, bool):
            return self.store.check_label(label)
        names = {c.casefold(): i for i, c in enumerate(self.classes)}
        key = str(label).strip().casefold()
        if key not in names:
            raise DataError(f"unknown class {label!r}; this project's classes are {', '.join(self.classes)}")
        return names[key]

    def records(self, labelled_only: bool = False) -> list[Record]:
        """The usable images as `Record`s with their standing labels (None when unlabelled) and masks.

        `labelled_only` keeps the annotated ones: with a class label, or in a segmentation project with a
        mask (what the segmentation trainer will read through `Record.mask_path`).
        """
        labels = self.store.labels()
        masks = self.store.mask_paths()
        root = self.images_dir
        out = [
            Record(
                row.image_id,
                root / row.path,
                labels.get(row.image_id),
                self.dir / masks[row.image_id] if row.image_id in masks else None,
            )
            for row in self.store.images(status="ok")
        ]
        if not labelled_only:
            return out
        if self.config.task == "segmentation":
            return [r for r in out if r.mask_path is not None]
        return [r for r in out if r.label is not None]

    # ------------------------------------------------------------------ masks
    def write_mask(
        self,
        image_id: str,
        data: bytes,
        annotator: str,
        request_id: str | None = None,
        source: str = "expert",
    ) -> int:
        """Store an uploaded mask PNG (checked by `decode_mask`) atomically and record it as an annotation.
        Returns the annotation id."""
        return self.store_mask(image_id, self.decode_mask(image_id, data), annotator, request_id, source)

    def decode_mask(self, image_id: str, data: bytes) -> np.ndarray:
        """The boolean (H, W) mask a PNG holds, checked: it decodes, and is the size of `image_id`.

        A mask without transparency is read as grey levels, lesion above 127 (the page sends 0/255). With an
        alpha channel (RGBA, LA, or a palette with a transparent colour) the alpha decides, as drawing tools
        save strokes on a transparent layer: a pixel is lesion if it is not fully transparent and its colour
        is not black (read as grey, red strokes would be L = 76 and vanish)."""
        row = self.store.image(image_id)
        if row is None or row.status != "ok":
            raise DataError(f"no usable image {image_id!r} in this project")
        try:
            with Image.open(io.BytesIO(data)) as im:
                if im.format != "PNG":
                    raise DataError(f"a mask must be a PNG, got {im.format}")
                if "A" in im.getbands() or "transparency" in im.info:
                    # strokes drawn on a transparent layer: lesion where a pixel shows and is not black
                    rgba = np.array(im.convert("RGBA"))
                    mask = (rgba[..., 3] > 0) & (rgba[..., :3].max(axis=-1) > 0)
                else:
                    mask = np.array(im.convert("L")) > 127
        except (
            OSError,
            ValueError,
            EOFError,
            SyntaxError,
            struct.error,
            Image.DecompressionBombError,
        ) as exc:
            raise DataError(f"the mask does not decode: {exc}") from exc
        if (row.width, row.height) != (mask.shape[1], mask.shape[0]):
            raise DataError(
                f"the mask is {mask.shape[1]}x{mask.shape[0]}, "
                f"but image {image_id!r} is {row.width}x{row.height}"
            )
        return mask

    def store_mask(
        self,
        image_id: str,
        mask: np.ndarray,
        annotator: str,
        request_id: str | None = None,
        source: str = "expert",
    ) -> int:
        """Write a boolean (H, W) mask of `image_id` as a 0/255 PNG, atomically, and record it."""
        row = self.store.image(image_id)
        if row is None or row.status != "ok":
            raise DataError(f"no usable image {image_id!r} in this project")
        binary = np.where(mask, 255, 0).astype(np.uint8)
        self.masks_dir.mkdir(parents=True, exist_ok=True)
        target = self.new_mask_file(row.key)
        with atomic_file(target) as fh:
            Image.fromarray(binary).save(fh, format="PNG")
        annotation_id, _ = self.store.add_annotation(
            image_id, None, annotator, source, request_id, mask_path=target.relative_to(self.dir).as_posix()
        )
        return annotation_id

    # ------------------------------------------------------------------ health
    def check_images(self) -> list[dict]:
        """Re-inspect files whose size changed or that vanished; record and return every problem image."""
        problems = []
        root = self.images_dir
        for row in self.store.images():
            path = root / row.path
            size = path.stat().st_size if path.is_file() else None
            if row.status == "ok" and size == row.size_bytes:
                continue
            info = (
                inspect_image(path)
                if size is not None
                else {"status": "missing", "problem": "file not found"}
            )
            if info["status"] != row.status or info.get("problem") != row.problem:
                self.store.set_image_status(row.image_id, info["status"], info.get("problem"))
            if info["status"] != "ok":
                problems.append({"image_id": row.image_id, "path": str(path), **info})
        return problems


def open_project(project_dir: Path) -> Project:
    project_dir = Path(project_dir).resolve()
    config = read_project_config(project_dir)
    store = ProjectStore(config.database_url(project_dir), config.classes, config.task)
    return Project(project_dir, config, store)


def init_project(
    project_dir: Path,
    images: Path,
    classes: list[str],
    task: str = "classification",
    database: str | None = None,
    show_progress: bool = True,
    **settings: object,
) -> Project:
    """Create a project over `images` (referenced, not copied), scan and check every image.

    Refuses a folder that already holds a project. `settings` are further `ProjectConfig` fields.
    """
    project_dir = Path(project_dir).resolve()
    images = Path(images).resolve()
    if (project_dir / CONFIG_NAME).exists():
        raise ConfigError(f"{project_dir} already holds a project ({CONFIG_NAME}); choose another folder")
    if not images.is_dir():
        raise DataError(f"images folder {images} does not exist; give the folder that holds the images")
    if project_dir.is_relative_to(images):
        raise ConfigError(
            f"put the project folder {project_dir} outside the images folder {images} "
            "(the images folder is only read, and its scan would pick up the project's masks)"
        )
    rel = Path(_relative(images, project_dir))
    if task == "segmentation":
        settings.setdefault("strategy", "pixel_entropy")
    config = ProjectConfig(
        name=project_dir.name, task=task, classes=classes, images=str(rel), database=database, **settings
    )
    project_dir.mkdir(parents=True, exist_ok=True)
    result = scan_folder(images, show_progress)
    if not result.rows:
        raise DataError(f"images folder {images} holds no images ({', '.join(('.jpg', '.png', '...'))})")
    write_project_config(project_dir, config)
    project = open_project(project_dir)
    project.store.add_images(result.rows)
    project.scan = result
    return project


def _relative(target: Path, start: Path) -> str:
    """`target` relative to `start` when they share a root (a project and its images move together)."""
    import os

    try:
        return os.path.relpath(target, start)
    except ValueError:  # another drive on Windows
        return str(target)
