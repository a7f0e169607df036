#!/usr/bin/env python3
"""nnjoule from Python: a zoo model written to ONNX, split into kernels, run on nnjoule's engine
inside an energy window, measured with the protocol, and predicted with a bundle if one is given.

    python3 energy_window.py [BUNDLE [DATASET]]
(a bundle: nnjoule train --db DATASET --out BUNDLE)"""
import os
import sys
import tempfile

import nnjoule

tmp = tempfile.TemporaryDirectory()
model = os.path.join(tmp.name, "mobilenetv2.onnx")
nnjoule.zoo_export("mobilenetv2", model, resolution=96)

inspection = nnjoule.inspect(model)
totals = inspection["totals"]
print(f"{len(inspection['kernels'])} kernels, {totals['flops'] / 1e6:.1f} MFLOPs "
      f"({inspection['origin']})")

# Every live sensor, else the cpu-time estimate; each number carries its label.
with nnjoule.Monitor() as monitor:
    for note in monitor.notes:
        print("note:", note)
    with monitor.window("20 inferences") as w:
        r = nnjoule.run(model, runs=20, warmup=0)
print(f"20 inferences: median {r['latency_ms']['median']:.2f} ms "
      f"[{r['latency_ms']['provenance']}]; window {w.energy_mj:.1f} mJ, "
      f"{w.avg_power_mw:.0f} mW [{w.provenance['label']}]")
top = max(range(1000), key=lambda i: r["outputs"][0].reshape(-1)[i])
print(f"output: {r['outputs'][0].shape}, top class {top}")

m = nnjoule.measure(model, idle_s=0.5, time_cap_s=10)
# A number the protocol could not establish is None, never 0: a confidence interval needs two
# windows, and a busy machine may leave one inside the time cap.
energy, ci = m["energy_per_inference_mj"], m["energy_ci95_mj"]
print(f"measured: {'unknown' if energy is None else f'{energy:.3f}'} mJ per inference "
      f"{'(95% CI unknown: one window)' if ci is None else f'+/- {ci:.3f} (95% CI)'} "
      f"[{m['provenance']['label']}]")

if len(sys.argv) > 1:
    p = nnjoule.Predictor(sys.argv[1])
    pred = p.predict(model)
    print(f"predicted: {pred['total']['energy_mj']:.3f} mJ, {pred['total']['latency_ms']:.3f} ms "
          f"over {len(pred['kernels'])} kernels ({pred['extrapolated_kernels']} extrapolated) "
          f"[{p.provenance['label']}]")
if len(sys.argv) > 2:
    rows = nnjoule.read_dataset(sys.argv[2])
    print(f"dataset: {len(rows)} kernel measurements, first: {rows[0]['kernel_type']}")
