#!/usr/bin/env bash
# Checks the NVML meter on a real NVIDIA GPU against nvidia-smi, sampled side by side:
#   scripts/check-nvml.sh NNJOULE OUT_DIR
# NNJOULE is the CLI or a bundle's launcher (scripts/make-bundle.sh), so the check runs on a
# GPU machine that lacks Debian's libraries. Needs nvidia-smi and python3 with PyTorch (the GPU
# load). Writes meters.json, idle.json, load.json and smi.csv into OUT_DIR and prints, for the
# loaded window, nnjoule's energy against nvidia-smi's power.draw integrated over the same span.
set -uo pipefail
nnjoule=$1
out=$2
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,power.draw,power.limit --format=csv
"$nnjoule" meters --probe-ms 1000 | tee "$out/meters.txt"
"$nnjoule" meters --json --probe-ms 1000 >"$out/meters.json"

cat >"$out/load.py" <<'EOF'
import sys, time, torch
seconds = float(sys.argv[1])
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
torch.cuda.synchronize()
n, t0 = 0, time.time()
while time.time() - t0 < seconds:
    for _ in range(20):
        c = a @ b
    torch.cuda.synchronize()
    n += 20
dt = time.time() - t0
print(f"load: {n} bf16 8192^3 products in {dt:.2f} s, {n * 2 * 8192**3 / dt / 1e12:.0f} TFLOP/s",
      file=sys.stderr)
EOF

# nvidia-smi samples power.draw every 100 ms with its own clock, for the whole check.
nvidia-smi --query-gpu=timestamp,power.draw --format=csv,noheader,nounits -lms 100 \
  >"$out/smi.csv" &
smi=$!
sleep 1
echo "== idle window (sleep 3)"
start_idle=$(date +%s.%N)
"$nnjoule" measure --meter nvml --json -- sleep 3 >"$out/idle.json"
end_idle=$(date +%s.%N)
echo "== loaded window (8 s of bf16 matrix products)"
start_load=$(date +%s.%N)
"$nnjoule" measure --meter nvml --json -- python3 "$out/load.py" 8 >"$out/load.json"
end_load=$(date +%s.%N)
echo "== text output of a loaded window"
"$nnjoule" measure --meter nvml estimate -- python3 "$out/load.py" 3
sleep 1
kill "$smi"
echo "windows: idle $start_idle-$end_idle load $start_load-$end_load" | tee "$out/windows.txt"
python3 - "$out" "$start_idle" "$end_idle" "$start_load" "$end_load" <<'EOF'
import csv, datetime, json, sys
out, si, ei, sl, el = sys.argv[1], *map(float, sys.argv[2:])
rows = []
for r in csv.reader(open(f"{out}/smi.csv")):
    try:
        t = datetime.datetime.strptime(r[0].strip(), "%Y/%m/%d %H:%M:%S.%f").timestamp()
        rows.append((t, float(r[1])))
    except (ValueError, IndexError):
        pass
def energy_j(a, b):
    pts = [(t, p) for t, p in rows if a <= t <= b]
    return sum((t2 - t1) * (p1 + p2) / 2 for (t1, p1), (t2, p2) in zip(pts, pts[1:])), len(pts)
for name, a, b in (("idle", si, ei), ("load", sl, el)):
    j, n = energy_j(a, b)
    print(f"nvidia-smi {name}: {j:.1f} J over {b - a:.2f} s from {n} samples "
          f"(mean {j / (b - a):.1f} W; the span includes nnjoule's start-up)")
    try:
        print(f"nnjoule {name}:", json.dumps(json.load(open(f"{out}/{name}.json")))[:1500])
    except Exception as e:
        print(f"nnjoule {name}: unreadable JSON: {e}")
EOF
