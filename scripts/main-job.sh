#!/usr/bin/env bash
# The main job: what `make run` does after building. A few minutes on a 2-core machine.
set -euo pipefail
build=${1:-build}
nnjoule="$build/nnjoule"
out=${NNJOULE_OUT:-out}
mkdir -p "$out"
"$nnjoule" --version

# The front end: a zoo model as ONNX, split into the kernels a mobile runtime schedules.
"$nnjoule" zoo export mobilenetv2 -o "$out/zoo"
"$nnjoule" inspect "$out/zoo/mobilenetv2.onnx"

# The energy dataset of this machine: zoo models of 8 families (the base model and 3 random
# variants each), each with the latency of every kernel inside it timed in the model's own
# measured runs, each measured twice round robin (training takes the median; the spread is the
# repeatability ceiling printed under the accuracy table), on one thread. Without a power sensor
# the energy is estimated (cpu-time model), and every table says so.
db="$out/host.db"
"$nnjoule" collect models --db "$db" \
  --families resnet18,mobilenetv2,mobilenetv3small,squeezenet,shufflenetv2,mnasnet,googlenet,mobilenetv1 \
  --variants 3 --repeat 2 --profile quick --idle 1

# Predicted beside measured, for models the predictor never saw: each measured model is held
# out in turn (5 folds of models) and predicted by regressors trained without it.
"$nnjoule" evaluate --db "$db" --models kfold --folds 5

# A predictor bundle for this machine: the models' kernels plus single kernels sampled the way
# nn-Meter builds its predictors (prior sample, then fine-grained samples around the
# worst-predicted).
types=conv-bn-relu,conv-bn,conv-bn-relu6,dwconv-bn-relu6,add,add-relu,maxpool,global-avgpool,fc
"$nnjoule" build-predictor --db "$db" -o "$out/host-predictor" --profile quick --idle 1 \
  --kernels "$types" --count 40 --floor 4 --rounds 1 --worst 2 --per-kernel 2

# A model never measured here at all.
"$nnjoule" predict --zoo resnet50 --predictor "$out/host-predictor"
