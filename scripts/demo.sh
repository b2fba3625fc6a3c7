#!/usr/bin/env bash
# cairn's main job, end to end on this machine (grows with each part of cairn): train a PyTorch
# model, version its weights in cairn's registry, restore them verified, load them back in
# PyTorch, and inspect, convert and compare them with cairn.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
out=${CAIRN_DEMO_DIR:-$(mktemp -d -t cairn-demo-XXXXXX)}
py=/usr/bin/python3
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "train with real PyTorch (torch.save(model.state_dict(), model_dir + '/model.pth'))"
$py examples/train_tiny.py "$out/model"
step "cairn weights inspect model.pth"
build/cairn weights inspect "$out/model/model.pth"
step "cairn weights inspect --json checkpoint.pth (names, dtypes, shapes, SHA-256 per tensor)"
build/cairn weights inspect --json "$out/model/checkpoint.pth" | $py -c '
import json, sys
d = json.load(sys.stdin)
print(json.dumps({"format": d["format"], "tensors": d["tensors"][:2]}, indent=2))
print("...", len(d["tensors"]), "tensors in all")'
step "convert to safetensors and back"
build/cairn weights convert "$out/model/model.pth" "$out/model.safetensors"
build/cairn weights convert "$out/model.safetensors" "$out/model-roundtrip.pth"
build/cairn weights convert "$out/model/checkpoint.pth" "$out/checkpoint.safetensors"
build/cairn weights convert "$out/checkpoint.safetensors" "$out/checkpoint-roundtrip.pth"
step "cairn weights diff (exit 0: identical)"
build/cairn weights diff "$out/model/model.pth" "$out/model-roundtrip.pth"
build/cairn weights diff "$out/model/checkpoint.pth" "$out/checkpoint-roundtrip.pth"
step "PyTorch loads what cairn wrote"
$py examples/load_back.py "$out/model/model.pth" "$out/model-roundtrip.pth"

export CAIRN_STORE="$out/store"   # the registry's object store: a local directory here
step "version the model directory in the registry (content-addressed, immutable)"
build/cairn models publish simple-model "$out/model" --metric loss=final --tag source=demo
$py examples/train_tiny.py "$out/model-v2" 1 >/dev/null
build/cairn models publish simple-model "$out/model-v2" --description "retrained"
build/cairn models alias simple-model production 1
build/cairn models alias simple-model production 2
build/cairn models approve simple-model:2
build/cairn models versions simple-model
step "roll production back, then restore it (every chunk verified) and load it in PyTorch"
build/cairn models rollback simple-model production
build/cairn models restore simple-model@production "$out/restored"
$py examples/load_back.py "$out/model/model.pth" "$out/restored/model.pth"
step "done: files in $out"
