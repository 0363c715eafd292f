#!/usr/bin/env bash
# Contract / fuzz run of `muse serve` against its own /openapi.json with schemathesis (PyPI
# `schemathesis`, 4.x). Starts the server with small generation limits so that the thousands of
# generated requests finish in about a minute, runs every check, and stops the server.
#   scripts/e2e/contract.sh [PYTHON_BIN_DIR] [EXAMPLES]
set -euo pipefail
bin=${1:-/work/refenv/bin}
examples=${2:-100}
port=8183
root=$(cd "$(dirname "$0")/../.." && pwd)
# Image requests are held to 2 images of at most 4 denoising steps the same way.
conf=$(mktemp --suffix=.toml)
printf '[server]\nmax_images = 2\nmax_image_steps = 4\n' >"$conf"
# The fuzzer adds documents to knowledge bases: give it a scratch Muse home that shares only
# the installed models.
home=$(mktemp -d)
ln -s "$root/models" "$home/models"
MUSE_HOME=$home "$root/target/release/muse" serve --port $port --max-tokens 8 --max-n 2 --timeout 30 --config "$conf" &
pid=$!
trap 'kill $pid' EXIT
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.5; done
# schemathesis keeps a cache in the working directory: run it from a scratch one.
cd "$(mktemp -d)"
"$bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" --url "http://127.0.0.1:$port" \
  --checks all --max-examples "$examples" --request-timeout 60
