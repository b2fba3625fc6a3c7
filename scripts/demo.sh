#!/usr/bin/env bash
# cairn's main job, end to end on this machine: the seed's SageMaker workflow on a local store.
# Train SimpleModel with examples/simple/train.py, see model_data and the new version, restore it
# (verified) and load it with torch.load, deploy an endpoint with examples/simple/inference.py,
# predict and compare with PyTorch, train a second version, move `production` to it while
# requests keep flowing, roll back, and show the versions and their lineage.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${CAIRN_DEMO_NO_SETUP:-}" ] || scripts/setup.sh >/dev/null
out=${CAIRN_DEMO_DIR:-$(mktemp -d -t cairn-demo-XXXXXX)}
py=/usr/bin/python3
cairn=${CAIRN_BIN:-build/cairn}
export CAIRN_STORE="$out/store"   # the object store, the source of truth: a local directory here
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
server=""
cleanup() { [ -z "$server" ] || kill "$server" 2>/dev/null || true; }
trap cleanup EXIT

step "data: the example's CSV channel"
$py examples/simple/make_data.py "$out/data"

step "estimator.fit(): cairn train examples/simple/train.py (SageMaker's training contract)"
$cairn train examples/simple/train.py --model-group simple-model --work-dir "$out/jobs" \
  -c train="$out/data/train" -p epochs=10 -p lr=0.05 --output-path "$out/s3" \
  --metric-definition 'train_loss=train_loss=([0-9.]+)' --json >"$out/job1.json"
$py - "$out/job1.json" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))
print(f"job {job['name']}: {job['status']}, final train_loss {job['final_metrics']['train_loss']:.4f}")
print(f"model_data: {job['model_data']}")
print(f"version:    {job['model_version']}")
PY

step "restore simple-model:1 (every chunk's SHA-256 checked) and torch.load it"
$cairn models restore simple-model:1 "$out/restored-1"
$py - "$out/restored-1/model.pth" "$out/jobs/$($py -c "import json; print(json.load(open('$out/job1.json'))['name'])")/algo-1/model/model.pth" <<'PY'
import sys, torch
a, b = torch.load(sys.argv[1]), torch.load(sys.argv[2])
assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
print("torch.load: the restored weights equal what the training script saved:", list(a))
PY
$cairn weights inspect "$out/restored-1/model.pth"

step "deploy: cairn serve simple-model@production with inference.py"
$cairn models alias simple-model production 1
port=$($py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$cairn serve simple-model@production --port "$port" --entry-point inference.py \
  --source-dir examples/simple --poll 0.5 2>"$out/serve.log" &
server=$!
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/ping" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/ping" >/dev/null

step "predictor.predict(): the endpoint's answer equals PyTorch's"
x='[[0.5, -1.0, 2.0, 0.0, 1.5, -0.5, 0.25, 3.0, -2.0, 1.0]]'
$cairn predict "http://127.0.0.1:$port" -d "$x" | tee "$out/prediction.json"
$py - "$out/restored-1/model.pth" "$x" "$out/prediction.json" <<'PY'
import json, sys, torch
sys.path.insert(0, "examples/simple")
from inference import SimpleModel
m = SimpleModel(); m.load_state_dict(torch.load(sys.argv[1]))
want = m(torch.tensor(json.loads(sys.argv[2]))).tolist()
got = json.load(open(sys.argv[3]))
assert torch.allclose(torch.tensor(got), torch.tensor(want), atol=1e-6), (got, want)
print(f"PyTorch says {want}: same answer")
PY

step "train a second version (more epochs)"
$cairn train examples/simple/train.py --model-group simple-model --work-dir "$out/jobs" \
  -c train="$out/data/train" -p epochs=30 -p lr=0.05 2>&1 | tail -n 3

step "move production to version 2 while requests keep flowing, then roll back"
rm -f "$out/stop"
$py examples/simple/load_loop.py "http://127.0.0.1:$port" "$out/stop" >"$out/load.json" &
load=$!
wait_for() {  # until the endpoint serves $1
  for _ in $(seq 600); do
    curl -s "http://127.0.0.1:$port/models" | grep -q "\"version\": \"$1\"" && return 0; sleep 0.1
  done
  echo "the endpoint never served $1" >&2; return 1
}
sleep 1
$cairn models alias simple-model production 2 && wait_for simple-model:2 && sleep 1
$cairn models rollback simple-model production && wait_for simple-model:1 && sleep 1
touch "$out/stop"
wait $load
$py - "$out/load.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['requests']} requests, {r['failed']} failed, answered by {r['answered_by']}")
assert r["failed"] == 0 and set(r["answered_by"]) == {"simple-model:1", "simple-model:2"}
PY

step "the versions and their lineage"
$cairn models versions simple-model
$cairn models describe simple-model:2 | $py -c '
import json, sys
d = json.load(sys.stdin)
print(json.dumps({k: d[k] for k in ("ref", "metrics", "lineage")}, indent=2))'
$cairn jobs list

step "stop the endpoint (SIGTERM: requests in flight finish first)"
kill "$server"
wait "$server"
server=""
step "done: files in $out"
