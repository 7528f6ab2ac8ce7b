"""The first round's model, trained once per seed and shared by the strategies that start from it.

Every strategy of a seed starts from the same labelled set (`Experiment._initial_ids`), the same initial
weights and the same training configuration, so their first fits are the same fit: with S strategies it
would run S times. The first run of a seed saves the fitted weights and what the round recorded of them;
the others load them instead of training. The key is a hash of everything the fit depends on (the
labelled ids and labels, the validation and evaluation ids, the run's fingerprint and training
configuration, the device, the cache formats and the installed versions, the seed), so a changed input
or a new release never reads a stale fit. (Edits to lesionlab's code between two runs of one output
folder are not seen, as for a resumed run: start a fresh output folder after changing the code.)

Runs whose strategy trains an auxiliary head (the loss predictor of Yoo & Kweon 2019, "Learning Loss for
Active Learning") write the shared fit but never read it: their head must learn during the fit, while the
model trains exactly as without it (its taps are detached).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lesionlab.data.cache import CACHE_FORMAT_VERSION
from lesionlab.data.records import Record
from lesionlab.io import atomic_file, tensor_bytes
from lesionlab.training.activations import ACTIVATION_FORMAT
from lesionlab.versions import versions

# What a round records of its fit (`RoundRecord` fields), beside the weights (its seconds too: a row's
# cost is the fit's).
FIT_KEYS = ("best_epoch", "metrics", "val_correct", "train_seconds", "train_cpu_seconds")


@dataclass(frozen=True)
class FirstRound:
    """The shared first fit of one seed, stored under `folder` by its key."""

    folder: Path
    key: str

    @classmethod
    def of(
        cls,
        folder: Path,
        seed: int,
        train: Sequence[Record],
        val: Sequence[Record],
        settings: dict[str, Any],
    ) -> FirstRound:
        """`settings`: everything else the fit depends on, as JSON-able values (run fingerprint, training
        configuration, evaluation ids, device)."""
        content = {
            "seed": seed,
            "train": sorted((r.id, r.label, str(r.mask_path)) for r in train),  # labels and masks
            "val": sorted(r.id for r in val),
            "settings": settings,
            "formats": {"activations": ACTIVATION_FORMAT, "images": CACHE_FORMAT_VERSION},
            "versions": versions(),
        }
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
        return cls(Path(folder), f"seed{seed}_{digest[:20]}")

    @property
    def path(self) -> Path:
        return self.folder / f"first_round_{self.key}.pt"

    def load(self, model: torch.nn.Module) -> dict[str, Any] | None:
        """Load the shared weights into `model` and return the round's fit entries, or None if absent.

        A damaged or foreign file gives None and leaves `model` untouched (the caller then trains it):
        every tensor's name and shape is checked before any is copied, since `load_state_dict` copies
        the matching ones before it raises on the others."""
        if not self.path.is_file():
            return None
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
            weights, entry = saved["model"], json.loads(saved["entry"])
        except (RuntimeError, OSError, EOFError, ValueError, KeyError, TypeError, pickle.UnpicklingError):
            return None
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in weights.items()} if isinstance(weights, dict) else None
        if found != expected or not isinstance(entry, dict) or not set(FIT_KEYS[:2]) <= entry.keys():
            return None
        model.load_state_dict(weights)
        return entry

    def save(self, model: torch.nn.Module, entry: dict[str, Any]) -> None:
        """Store the fitted weights and the round's fit entries (atomically: runs side by side may race)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        shared = json.dumps({k: entry[k] for k in FIT_KEYS if k in entry})
        state = model.state_dict()
        with atomic_file(self.path, expected_bytes=tensor_bytes(state.values())) as fh:  # the model's size
            torch.save({"model": state, "entry": shared}, fh)
