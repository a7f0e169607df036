#!/usr/bin/env bash
# The main job: what `make run` does after building. Grows with every pipeline stage.
set -euo pipefail
build=${1:-build}
nnjoule="$build/nnjoule"
out=${NNJOULE_OUT:-out}
mkdir -p "$out"
"$nnjoule" --version

# A predictor for this machine in a few minutes: measure kernels of the types two zoo families
# use (prior sample, then fine-grained samples around the worst-predicted), train, then measure
# the models, which the predictor never saw, and print predicted beside measured. Without a
# power sensor the energy is estimated (cpu-time model), and the tables say so.
db="$out/host.db"
types=conv-bn-relu,conv-bn,conv-bn-relu6,dwconv-bn-relu6,add,add-relu,maxpool,global-avgpool,fc,reshape
"$nnjoule" build-predictor --db "$db" -o "$out/host-predictor" --profile quick --idle 1 \
  --kernels "$types" --count 60 --floor 4 --rounds 1 --worst 2 --per-kernel 2
"$nnjoule" collect models --db "$db" --families resnet18,mobilenetv2 --variants 1 \
  --profile quick --idle 1
"$nnjoule" evaluate --predictor "$out/host-predictor" --db "$db"
"$nnjoule" predict --zoo resnet50 --predictor "$out/host-predictor"
