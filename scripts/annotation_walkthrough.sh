#!/usr/bin/env bash
# The docs/annotation.md walk-through, end to end, on the 240 ISIC 2017 training images shipped with
# lesionlab: init, then ROUNDS x (propose BUDGET, label them through the running server's API from the
# ground truth in place of an expert, train), then status. Reproduces the outputs quoted in the docs.
#   scripts/annotation_walkthrough.sh [OUT=annotation-walkthrough] [ROUNDS=3] [BUDGET=20]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-annotation-walkthrough}" rounds="${2:-3}" budget="${3:-20}"
data="$repo/src/lesionlab/demo_data/isic2017"
export OMP_NUM_THREADS=1
rm -rf "$out"; mkdir -p "$out/images"
cp "$data"/ISIC-2017_Training_Data/*.jpg "$out/images/"
lesionlab project init "$out/proj" --images "$out/images" --classes other,melanoma
python - "$out/proj/project.yaml" <<'PY'
import sys, yaml
path = sys.argv[1]
config = yaml.safe_load(open(path))
config["train"]["num_threads"] = 1  # kind to a shared machine
open(path, "w").write(yaml.safe_dump(config, sort_keys=False))
PY
link=$(lesionlab project invite "$out/proj" script --role annotator | head -1)
export WALKTHROUGH_TOKEN="${link##*token=}"
port=$(python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
for round in $(seq "$rounds"); do
  lesionlab project propose "$out/proj" --budget "$budget"
  lesionlab project serve "$out/proj" --port "$port" > "$out/serve.log" 2>&1 &
  server=$!
  python - "$port" "$data/ISIC-2017_Training_Part3_GroundTruth.csv" <<'PY'
import csv, os, sys, time
import httpx
url, truth_csv = f"http://127.0.0.1:{sys.argv[1]}", sys.argv[2]
truth = {r["image_id"]: int(float(r["melanoma"])) for r in csv.DictReader(open(truth_csv))}
auth = {"Authorization": f"Bearer {os.environ['WALKTHROUGH_TOKEN']}"}
for _ in range(600):
    try:
        httpx.get(f"{url}/api/project", headers=auth).raise_for_status()
        break
    except httpx.TransportError:
        time.sleep(0.2)
n = 0
while items := httpx.get(f"{url}/api/queue", headers=auth).json()["items"]:
    image_id = items[0]["image_id"]
    body = {"image_id": image_id, "label": truth[image_id], "request_id": f"walkthrough-{image_id}"}
    httpx.post(f"{url}/api/labels", headers=auth, json=body).raise_for_status()
    n += 1
print(f"labelled {n} image(s) through the API")
PY
  kill "$server"; wait "$server" || true
  lesionlab project train "$out/proj"
done
lesionlab project status "$out/proj"
