#!/usr/bin/python3
"""Zoo build time beside torchvision's model constructors (random init), same models, same
machine, run one after the other. Usage: bench/zoo_build_compare.py BUILD_DIR"""
import json
import statistics
import subprocess
import sys
import time

MODELS = {"resnet50": "resnet50", "mobilenetv2": "mobilenet_v2",
          "densenet121": "densenet121", "shufflenetv2": "shufflenet_v2_x1_0"}


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    out = subprocess.run([f"{build}/bench/bench_zoo_build", "--benchmark_format=json",
                          "--benchmark_filter=BM_BuildWithWeights"],
                         check=True, capture_output=True, text=True).stdout
    ours = {b["label"]: b["real_time"] for b in json.loads(out)["benchmarks"]}  # ms
    try:
        import torchvision.models as tvm
    except ImportError:
        print("torchvision is not installed (./scripts/install-deps.sh --bench); nnjoule only:")
        for name, ms in ours.items():
            print(f"{name:14s} nnjoule {ms:8.1f} ms")
        return
    print(f"{'model':14s} {'nnjoule ms':>11s} {'torchvision ms':>15s} {'ratio':>7s}")
    for name, tv in MODELS.items():
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            getattr(tvm, tv)()
            times.append((time.perf_counter() - t0) * 1e3)
        theirs = statistics.median(times)
        print(f"{name:14s} {ours[name]:11.1f} {theirs:15.1f} {theirs / ours[name]:6.1f}x")


if __name__ == "__main__":
    main()
