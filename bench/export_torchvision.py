#!/usr/bin/python3
"""Exports torchvision models with random weights to ONNX, to check nnjoule's importer on files
written by another tool (and, at old opsets, on the legacy op forms PyTorch writes there).

Needs python3-torch and python3-torchvision (./scripts/install-deps.sh --bench). The test suite
does not depend on it; see docs/onnx.md for the runs recorded so far.

    /usr/bin/python3 bench/export_torchvision.py out/tv --opset 9 --opset 13 --preserve-bn
"""
import argparse
import os
import sys
import warnings

MODELS = [
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "shufflenet_v2_x1_0",
    "squeezenet1_0",
    "googlenet",
    "densenet121",
]


def build(torchvision, name):
    kwargs = {"weights": None}
    if name == "googlenet":
        # The auxiliary heads only run in training; init_weights silences a warning.
        kwargs.update(aux_logits=False, init_weights=True)
    return getattr(torchvision.models, name)(**kwargs).eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", help="directory for <model>_op<opset>[_bn].onnx")
    ap.add_argument("--opset", type=int, action="append",
                    help="opset to export (repeatable; default 13)")
    ap.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    ap.add_argument("--preserve-bn", action="store_true",
                    help="export with TrainingMode.PRESERVE and no constant folding, which keeps "
                         "BatchNormalization nodes instead of folding them into the convs")
    ap.add_argument("--dynamic-batch", action="store_true",
                    help="declare the batch dimension symbolic ('batch')")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch
    import torchvision

    opsets = args.opset or [13]
    os.makedirs(args.outdir, exist_ok=True)
    torch.manual_seed(args.seed)
    x = torch.randn(1, 3, 224, 224)
    failures = 0
    for name in args.models:
        model = build(torchvision, name)
        for opset in opsets:
            suffix = "_bn" if args.preserve_bn else ""
            path = os.path.join(args.outdir, f"{name}_op{opset}{suffix}.onnx")
            kwargs = dict(opset_version=opset, input_names=["input"], output_names=["logits"])
            if args.preserve_bn:
                kwargs.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
            if args.dynamic_batch:
                kwargs["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    torch.onnx.export(model, x, path, **kwargs)
                print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
            except Exception as e:  # torch refuses some opsets for some ops; report and go on
                failures += 1
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                print(f"export_torchvision: {name} at opset {opset} failed: {first}",
                      file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
