#!/usr/bin/env bash
# The main job: what `make run` does after building. Grows with every pipeline stage.
set -euo pipefail
build=${1:-build}
nnjoule="$build/nnjoule"
out=${NNJOULE_OUT:-out}
mkdir -p "$out"
"$nnjoule" --version
