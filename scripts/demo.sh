#!/usr/bin/env bash
# cairn's main job, end to end on this machine (grows with each part of cairn):
# train a PyTorch model, then inspect, convert, compare and load back its weights with cairn.
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
build/cairn weights inspect --json "$out/model/checkpoint.pth" | $py -m json.tool | head -n 20
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
step "done: files in $out"
