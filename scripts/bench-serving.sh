#!/usr/bin/env bash
# Builds cairn and runs the endpoint benchmark (wrk) against gunicorn+Flask+torch and nginx.
# Installs the benchmark's own tools (wrk, nginx-light, gunicorn, python3-flask) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
missing=()
for p in wrk nginx-light gunicorn python3-flask; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  # nginx-light may start the system's nginx; it is left alone (the benchmark starts its own
  # nginx on a port of its own and stops it by PID: scripts never stop what they did not start).
fi
exec /usr/bin/python3 bench/serving_bench.py build/cairn "$@"
