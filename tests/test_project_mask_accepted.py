"""A model's mask proposal saved untouched is recorded as accepted (`annotations.accepted`), not drawn.

The page draws the model's proposal for the expert to correct; Enter over it untouched stores it as the
expert's answer. The server compares the mask saved with the proposal: equal pixel for pixel, the
annotation keeps "model vN" (the browser walk-through is in tests/test_page_answer_guards.py). A second
reading found the comparison reading the proposal file unguarded: a damaged file refused the expert's
save. The API level is tested here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")

from test_project_team import clients, png, rid, team_project


def _proposal(p, image_id: str) -> np.ndarray:
    mask = np.zeros((32, 32), dtype=bool)
    mask[2:20, 4:28] = True
    p.store_mask(image_id, mask, "model v3", source="model")
    return mask


def _put(client, image_id: str, mask: np.ndarray, request_id: str | None = None):
    params = {"request_id": request_id or rid(), "width": 32, "height": 32}
    return client.put(f"/api/masks/{image_id}", params=params, content=png(mask))


def test_the_proposal_saved_untouched_is_accepted_and_a_changed_one_drawn(tmp_path: Path) -> None:
    with team_project(tmp_path, overlap=1, task="segmentation") as p:
        c = clients(p, ("ana", "annotator"))["ana"]
        same = _proposal(p, "img_000")
        changed = _proposal(p, "img_001")
        changed[25:30, 25:30] = True
        first, second = _put(c, "img_000", same), _put(c, "img_001", changed)
        assert first.status_code == second.status_code == 201
        assert first.json()["accepted"] == "model v3" and second.json()["accepted"] is None
        rows = [p.store.annotation(r.json()["annotation_id"]) for r in (first, second)]
        assert [r.accepted for r in rows] == ["model v3", None]
        (event,) = [e for e in p.store.history("img_000") if e["action"] == "expert"]
        assert event["accepted"] == "model v3"


def test_an_unreadable_proposal_never_blocks_the_experts_mask(tmp_path: Path) -> None:
    with team_project(tmp_path, overlap=1, task="segmentation") as p:
        c = clients(p, ("ana", "annotator"))["ana"]
        mask = _proposal(p, "img_000")
        path, _ = p.store.model_mask("img_000")
        (p.dir / path).write_bytes(b"not a png")  # a damaged proposal file
        request = rid()
        saved = _put(c, "img_000", mask, request)
        assert saved.status_code == 201 and saved.json()["accepted"] is None  # recorded as drawn
        _proposal(p, "img_000")  # a readable proposal lands before the reply was lost and retried
        again = _put(c, "img_000", mask, request)
        assert again.json()["new"] is False and again.json()["accepted"] is None  # what was recorded
