"""Run in Label Studio's own virtualenv (tests/test_label_studio.py starts it): put a `lesionlab project
export` into a running Label Studio with label-studio-sdk, the way docs/annotation.md tells a user to, then
read every annotation back through Label Studio's own JSON export and decode its masks with the SDK's
converter (`label_studio_sdk.converter.brush`, formerly label-studio-converter).

    python label_studio_client.py URL TOKEN EXPORT_DIR IMAGES_DIR OUT_DIR

Writes OUT_DIR/label_studio_export.json (Label Studio's own JSON export) and OUT_DIR/read_back.json: per
image id, each annotation's author e-mail, choices per control,
comment text, ground-truth flag and (for masks) the .npy file of its decoded alpha layer; plus the status
and bytes' SHA-256 of the first task's image fetched through its URL, as a browser would.
"""

from __future__ import annotations

import hashlib
import json
import sys
import urllib.request
from pathlib import Path

import numpy as np
from label_studio_sdk import LabelStudio
from label_studio_sdk.converter.brush import decode_rle


def push(ls: LabelStudio, export_dir: Path, images_dir: Path) -> int:
    """Users, project, local-files storage, tasks: the steps of docs/annotation.md."""
    known = {u.email for u in ls.users.list()}
    for person in json.loads((export_dir / "labelstudio_people.json").read_text()):
        if person["email"] not in known:
            ls.users.create(username=person["email"], email=person["email"], first_name=person["name"])
    config = (export_dir / "labelstudio_config.xml").read_text()
    project = ls.projects.create(title="lesionlab export", label_config=config)
    ls.import_storage.local.create(project=project.id, path=str(images_dir), use_blob_urls=True)
    tasks = json.loads((export_dir / "labels_labelstudio.json").read_text())
    ls.projects.import_tasks(id=project.id, request=tasks)
    return project.id


def read_back(url: str, token: str, project_id: int, out: Path) -> dict:
    headers = {"Authorization": f"Token {token}"}
    request = urllib.request.Request(
        f"{url}/api/projects/{project_id}/export?exportType=JSON&download_all_tasks=true", headers=headers
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        exported = json.loads(answer.read())
    (out / "label_studio_export.json").write_text(json.dumps(exported))  # for lesionlab's import
    users = json.loads(_get(f"{url}/api/users/", headers))
    email = {u["id"]: u["email"] for u in users}
    images: dict[str, list[dict]] = {}
    predictions: dict[str, list] = {}
    for task in exported:
        for k, ann in enumerate(task["annotations"]):
            who = ann["completed_by"]
            item = {
                "email": email[who if isinstance(who, int) else who["id"]],
                "ground_truth": ann.get("ground_truth", False),
            }
            for r in ann["result"]:
                if r["type"] == "choices":
                    item[r["from_name"]] = r["value"]["choices"]
                elif r["type"] == "textarea":
                    item[r["from_name"]] = r["value"]["text"]
                elif r["type"] == "brushlabels":
                    h, w = r["original_height"], r["original_width"]
                    layer = decode_rle(r["value"]["rle"]).reshape(h, w, 4)[:, :, 3]
                    path = out / f"task{task['id']}_{k}.npy"
                    np.save(path, layer)
                    item["mask"], item["brushlabels"] = str(path), r["value"]["brushlabels"]
            images.setdefault(task["data"]["image_id"], []).append(item)
    first = exported[0]["data"]["image"]
    image = urllib.request.Request(url + first if first.startswith("/") else first, headers=headers)
    with urllib.request.urlopen(image, timeout=60) as answer:
        fetched = {"status": answer.status, "sha256": hashlib.sha256(answer.read()).hexdigest()}
    task_image = {task["id"]: task["data"]["image_id"] for task in exported}
    for pred in json.loads(_get(f"{url}/api/predictions/?project={project_id}", headers)):
        choices = [r["value"]["choices"] for r in pred["result"] if r["type"] == "choices"]
        predictions[task_image[pred["task"]]] = [pred["model_version"], choices]  # version and class
    first_id = exported[0]["data"]["image_id"]
    return {"images": images, "predictions": predictions, "fetched": {"image_id": first_id, **fetched}}


def _get(url: str, headers: dict[str, str]) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as answer:
        return answer.read()


def main() -> None:
    url, token, export_dir, images_dir, out = sys.argv[1:6]
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ls = LabelStudio(base_url=url, api_key=token)
    project_id = push(ls, Path(export_dir), Path(images_dir))
    result = read_back(url, token, project_id, out_dir)
    (out_dir / "read_back.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
