#!/usr/bin/env bash
# docs/annotation.md's team walk-through, end to end, on the 240 ISIC 2017 training images shipped with
# lesionlab: a project with overlap 2, two annotators (ana, ben) and a reviewer (rev) invited, one proposal
# round labelled by both annotators through the server's API (ana gives the ground truth, ben disagrees on
# every fifth image), status, the reviewer decides the disagreements (the ground truth), then a model
# trained on the consensus and status again. Reproduces the outputs quoted in the docs (the browser side is
# tests/test_page_team.py, which also takes the screenshots).
#   scripts/annotation_team_walkthrough.sh [OUT=annotation-team] [BUDGET=20]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-annotation-team}" budget="${2:-20}"
data="$repo/src/lesionlab/demo_data/isic2017"
export OMP_NUM_THREADS=1
rm -rf "$out"; mkdir -p "$out/images"
cp "$data"/ISIC-2017_Training_Data/*.jpg "$out/images/"
lesionlab project init "$out/proj" --images "$out/images" --classes other,melanoma --overlap 2
python - "$out/proj/project.yaml" <<'PY'
import sys, yaml
path = sys.argv[1]
config = yaml.safe_load(open(path))
config["train"]["num_threads"] = 1  # kind to a shared machine
config["folds"] = 3
open(path, "w").write(yaml.safe_dump(config, sort_keys=False))
PY
for who in "ana annotator" "ben annotator" "rev reviewer"; do
  set -- $who
  lesionlab project invite "$out/proj" "$1" --role "$2" | tee "$out/invite_$1.txt"
done
lesionlab project propose "$out/proj" --budget "$budget"
port=$(python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
lesionlab project serve "$out/proj" --port "$port" > "$out/serve.log" 2>&1 &
server=$!
python - "$port" "$data/ISIC-2017_Training_Part3_GroundTruth.csv" "$out" <<'PY'
import csv, re, subprocess, sys, time, uuid
from pathlib import Path
import httpx
url, truth_csv, out = f"http://127.0.0.1:{sys.argv[1]}", sys.argv[2], Path(sys.argv[3])
truth = {r["image_id"]: int(float(r["melanoma"])) for r in csv.DictReader(open(truth_csv))}
auth = {}
for who in ("ana", "ben", "rev"):
    token = re.search(r"token=([\w-]+)", (out / f"invite_{who}.txt").read_text()).group(1)
    auth[who] = {"Authorization": f"Bearer {token}"}
for _ in range(600):
    try:
        httpx.get(f"{url}/api/me", headers=auth["ana"]).raise_for_status()
        break
    except httpx.TransportError:
        time.sleep(0.2)
for who in ("ana", "ben"):
    n = 0
    while items := httpx.get(f"{url}/api/queue", headers=auth[who]).json()["items"]:
        image_id = items[0]["image_id"]
        label = truth[image_id]
        if who == "ben" and n % 5 == 4:
            label = 1 - label  # ben disagrees on every fifth image
        body = {"image_id": image_id, "label": label, "request_id": uuid.uuid4().hex}
        httpx.post(f"{url}/api/labels", headers=auth[who], json=body).raise_for_status()
        n += 1
    print(f"{who} labelled {n} image(s) through the API")
print(subprocess.run(["lesionlab", "project", "status", str(out / "proj")], capture_output=True, text=True).stdout)
disputes = httpx.get(f"{url}/api/adjudication", headers=auth["rev"]).json()["items"]
for item in disputes:
    body = {"image_id": item["image_id"], "label": truth[item["image_id"]], "request_id": uuid.uuid4().hex}
    httpx.post(f"{url}/api/adjudication", headers=auth["rev"], json=body).raise_for_status()
print(f"rev decided {len(disputes)} disagreement(s) through the API")
PY
kill "$server"; wait "$server" || true
lesionlab project train "$out/proj"
lesionlab project status "$out/proj"
