"""A project folder: its config, its database and the files it writes (masks, models, caches).

```
DIR/project.yaml      task, classes, images folder, database URL, strategy, training settings
DIR/project.db        the SQLite database (unless `database` points at a server)
DIR/masks/            mask PNGs, written atomically, named by the image's key in the database
DIR/masks/consensus/  fused masks of images several people drew (the pixel vote training uses)
DIR/models/vNNNN/     one folder per trained model version (checkpoint + metrics)
DIR/cache/            decoded images and trunk activations (safe to delete)
```
The images folder is only read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lesionlab.data.records import Record
from lesionlab.errors import ConfigError, DataError
from lesionlab.project import mask_files
from lesionlab.project.config import (
    CONFIG_NAME,
    ProjectConfig,
    read_project_config,
    write_project_config,
)
from lesionlab.project.models import ImageRow
from lesionlab.project.scan import ScanResult, inspect_image, scan_folder
from lesionlab.project.store import ProjectStore
from lesionlab.tasks import Task, get_task


@dataclass
class Project:
    """An open project: `dir`, `config` and `store` (close it when done)."""

    dir: Path
    config: ProjectConfig
    store: ProjectStore
    scan: ScanResult | None = field(default=None, repr=False)

    @property
    def task(self) -> Task:
        """The registered task of `project.yaml`'s `task:` (what an annotation is, how models train)."""
        return get_task(self.config.task)

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
        """A fresh file for one saved mask (named by the image's key, never by its id)."""
        return mask_files.new_mask_file(self, image_key)

    def mask_path(self, image_id: str, model: bool = False, person: str | None = None) -> Path | None:
        """The file of `person`'s standing mask of the image, or with `model` the model's newest proposed
        one, or (neither given) the image's consensus mask; None if there is none."""
        if model:
            rel = self.store.model_mask_path(image_id)
            return mask_files.inside_masks(self, rel)
        st = self.store.standing("mask", image_id).get(image_id)
        if st is None:
            return None
        if person is not None:
            mine = st.raters.get(person)
            return mask_files.inside_masks(self, mine.mask_path if mine else None)
        return mask_files.consensus_of(self, st).path

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
        """The usable images as `Record`s with their consensus labels (None when unlabelled, incomplete or
        unresolved) and consensus masks: what training uses.

        `labelled_only` keeps the annotated ones: with a usable consensus label, or in a segmentation
        project with a usable consensus mask (what the segmentation trainer reads via `Record.mask_path`).
        """
        labels = self.store.labels()
        masks = {i: m.path for i, m in mask_files.mask_consensus_all(self).items() if m.path is not None}
        root = self.images_dir
        out = [
            Record(row.image_id, root / row.path, labels.get(row.image_id), masks.get(row.image_id))
            for row in self.store.images(status="ok")
        ]
        if not labelled_only:
            return out
        if self.store.kind == "mask":
            return [r for r in out if r.mask_path is not None]
        return [r for r in out if r.label is not None]

    def consensus_counts(self) -> dict[str, int]:
        """How many annotated images have each consensus status, for the task's kind of annotation
        (what `train` and `export` report as left out: "unresolved", "incomplete")."""
        if self.store.kind == "mask":
            statuses = [m.consensus.status for m in mask_files.mask_consensus_all(self).values()]
        else:
            statuses = [c.status for c, _ in self.store.label_consensus().values()]
        return dict(Counter(statuses))

    # ------------------------------------------------------------------ masks
    def decode_mask(self, image_id: str, data: bytes) -> np.ndarray:
        """The boolean (H, W) mask a PNG holds (`mask_foreground`, the rule training reads masks with),
        checked: it decodes, and is the oriented size of `image_id`."""
        return mask_files.decode_png(data, mask_files.usable_row(self, image_id))

    def store_mask(
        self,
        image_id: str,
        mask: np.ndarray,
        annotator: str,
        request_id: str | None = None,
        source: str = "expert",
        overlap: int | None = None,
    ) -> int:
        """Write a boolean (H, W) mask of `image_id` as a 0/255 PNG, atomically, and record it."""
        return self.save_mask(image_id, mask, annotator, request_id, source, overlap)[0]

    def save_mask(
        self,
        image_id: str,
        mask: np.ndarray,
        annotator: str,
        request_id: str | None = None,
        source: str = "expert",
        overlap: int | None = None,
        unsure: bool = False,
        comment: str | None = None,
        seen: list[int] | None = None,
        accepted: str | None = None,
    ) -> tuple[int, bool]:
        """`store_mask` returning (annotation id, whether new): a retried request writes no file, and a
        refused one (e.g. the image is complete) leaves none behind. `unsure`, `comment` and `accepted`
        go with it; `seen` as `ProjectStore.add_annotation`'s."""
        row = mask_files.usable_row(self, image_id)
        if request_id is not None:
            earlier = self.store.by_request(request_id, annotator, image_id, kind="mask")
            if earlier is not None:
                return earlier, False
        target = self.new_mask_file(row.key)
        mask_files.write_png(target, mask)
        try:
            annotation_id, new = self.store.add_annotation(
                image_id,
                None,
                annotator,
                source,
                request_id,
                mask_path=target.relative_to(self.dir).as_posix(),
                overlap=overlap,
                unsure=unsure,
                comment=comment,
                seen=seen,
                accepted=accepted,
            )
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        if not new:
            target.unlink(missing_ok=True)
        return annotation_id, new

    # ------------------------------------------------------------------ health
    def check_images(self) -> list[dict]:
        """Re-inspect files whose size changed or that vanished; record and return every problem image.

        A file replaced by one of another geometry (another size, or turned by a new EXIF orientation)
        whose image has masks is `changed`: its masks were drawn on the earlier file, and trained on the
        new one they were stretched onto other pixels without a word. It is left out until the earlier
        file is back. Any other replacement that decodes is recorded as the image's file now."""
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
            fields = {}
            if info["status"] == "ok" and row.sha256 is not None and info["sha256"] != row.sha256:
                info, fields = self._replaced(row, info)
            if info["status"] != row.status or info.get("problem") != row.problem or fields:
                self.store.set_image_status(row.image_id, info["status"], info.get("problem"), **fields)
            if info["status"] != "ok":
                problems.append({"image_id": row.image_id, "path": str(path), **info})
        return problems

    def _replaced(self, row: ImageRow, info: dict) -> tuple[dict, dict]:
        """(status, the row's new file fields) of an image whose file's bytes changed (see `check_images`)."""
        new = {k: info[k] for k in ("sha256", "size_bytes", "width", "height")}
        if (info["width"], info["height"]) == (row.width, row.height):
            return info, new
        if not self._has_masks(row.key):
            return info, new
        problem = (
            f"the file is now {info['width']}x{info['height']} but its masks were drawn on it at "
            f"{row.width}x{row.height} (replaced, or its EXIF orientation changed): put the earlier file "
            "back; until then the image is left out"
        )
        return {**info, "status": "changed", "problem": problem}, {}

    def _has_masks(self, image_key: int) -> bool:
        """Whether someone's mask stands on the image, whatever its status now (a `changed` image's too)."""
        from sqlalchemy import select

        from lesionlab.project.models import Annotation

        with self.store.session() as s:
            found = s.scalar(
                select(Annotation.id)
                .where(
                    Annotation.image_key == image_key,
                    Annotation.mask_path.is_not(None),
                    Annotation.retracted_at.is_(None),
                    Annotation.source != "model",
                )
                .limit(1)
            )
        return found is not None


def open_project(project_dir: Path) -> Project:
    project_dir = Path(project_dir).resolve()
    config = read_project_config(project_dir)
    store = ProjectStore(config.database_url(project_dir), config.classes, config.task, config.overlap)
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
    if get_task(task).project_strategy:  # the config's default strategy reads class probabilities
        settings.setdefault("strategy", get_task(task).project_strategy)
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
