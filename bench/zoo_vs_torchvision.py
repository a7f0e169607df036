#!/usr/bin/python3
"""Checks the zoo's architectures against torchvision's: exports each family with nnjoule,
copies the exported weights into torchvision's model (layers matched in execution order, so
every shape must agree), runs both on the same random input and prints the largest difference
of the logits. The ONNX graph is evaluated with torch.nn.functional, op by op.
Usage: bench/zoo_vs_torchvision.py BUILD_DIR [family ...]"""
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
import torch.nn.functional as F
import torchvision.models as tvm
from onnx import numpy_helper

TORCHVISION = {
    "alexnet": lambda: tvm.alexnet(), "vgg11": lambda: tvm.vgg11(), "vgg13": lambda: tvm.vgg13(),
    "vgg16": lambda: tvm.vgg16(), "vgg19": lambda: tvm.vgg19(),
    "resnet18": lambda: tvm.resnet18(), "resnet34": lambda: tvm.resnet34(),
    "resnet50": lambda: tvm.resnet50(), "squeezenet": lambda: tvm.squeezenet1_0(),
    "googlenet": lambda: tvm.googlenet(aux_logits=False, init_weights=False),
    "densenet121": lambda: tvm.densenet121(), "mobilenetv2": lambda: tvm.mobilenet_v2(),
    "mobilenetv3small": lambda: tvm.mobilenet_v3_small(),
    "mobilenetv3large": lambda: tvm.mobilenet_v3_large(),
    "shufflenetv2": lambda: tvm.shufflenet_v2_x1_0(), "mnasnet": lambda: tvm.mnasnet1_0(),
}


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def run_onnx(model, x):
    env = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy())
           for i in model.graph.initializer}
    env[model.graph.input[0].name] = x
    for n in model.graph.node:
        a = attrs(n)
        i = [env[t] if t else None for t in n.input]
        op = n.op_type
        if op == "Conv":
            p = a.get("pads", [0, 0, 0, 0])
            assert p[0] == p[2] and p[1] == p[3]
            y = F.conv2d(i[0], i[1], i[2] if len(i) > 2 else None, a.get("strides", [1, 1]),
                         p[:2], a.get("dilations", [1, 1]), a.get("group", 1))
        elif op == "BatchNormalization":
            y = F.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0, a.get("epsilon", 1e-5))
        elif op == "Relu":
            y = F.relu(i[0])
        elif op == "Clip":
            lo = i[1].item() if len(i) > 1 and i[1] is not None else a.get("min", -np.inf)
            hi = i[2].item() if len(i) > 2 and i[2] is not None else a.get("max", np.inf)
            y = torch.clamp(i[0], lo, hi)
        elif op == "HardSigmoid":
            y = torch.clamp(i[0] * a.get("alpha", 0.2) + a.get("beta", 0.5), 0, 1)
        elif op == "HardSwish":
            y = F.hardswish(i[0])
        elif op == "Sigmoid":
            y = torch.sigmoid(i[0])
        elif op == "Mul":
            y = i[0] * i[1]
        elif op == "Add":
            y = i[0] + i[1]
        elif op in ("MaxPool", "AveragePool"):
            p = a.get("pads", [0, 0, 0, 0])
            assert p[0] == p[2] and p[1] == p[3]
            k, s, c = a["kernel_shape"], a.get("strides", [1, 1]), bool(a.get("ceil_mode", 0))
            if op == "MaxPool":
                y = F.max_pool2d(i[0], k, s, p[:2], ceil_mode=c)
            else:
                y = F.avg_pool2d(i[0], k, s, p[:2], ceil_mode=c,
                                 count_include_pad=bool(a.get("count_include_pad", 0)))
        elif op == "GlobalAveragePool":
            y = i[0].mean(dim=(2, 3), keepdim=True)
        elif op == "ReduceMean":
            y = i[0].mean(dim=tuple(a["axes"]), keepdim=bool(a.get("keepdims", 1)))
        elif op == "Flatten":
            y = torch.flatten(i[0], a.get("axis", 1))
        elif op == "Gemm":
            assert a.get("transB", 0) == 1 and a.get("transA", 0) == 0
            y = F.linear(i[0], i[1], i[2] if len(i) > 2 else None)
        elif op == "Concat":
            y = torch.cat(i, a["axis"])
        elif op == "Split":
            sizes = i[1].tolist() if len(i) > 1 else a["split"]
            ys = torch.split(i[0], sizes, a.get("axis", 0))
            for t, v in zip(n.output, ys):
                env[t] = v
            continue
        elif op == "Reshape":
            y = i[0].reshape(i[1].tolist())
        elif op == "Transpose":
            y = i[0].permute(a["perm"])
        else:
            raise SystemExit(f"op {op} not handled")
        env[n.output[0]] = y
    return env[model.graph.output[0].name]


def layer_params(model):
    """The exported weights per Conv / BatchNormalization / Gemm node, in node order."""
    init = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy())
            for i in model.graph.initializer}
    out = []
    for n in model.graph.node:
        if n.op_type in ("Conv", "BatchNormalization", "Gemm"):
            out.append((n.op_type, [init[t] for t in n.input[1:] if t]))
    return out


def torch_layers(net, x):
    order = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in net.modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.Linear))]
    net(x)
    for h in hooks:
        h.remove()
    return order


def compare(build, family, tmp):
    subprocess.run([f"{build}/nnjoule", "zoo", "export", family, "--seed", "1", "-o", tmp],
                   check=True, capture_output=True)
    model = onnx.load(f"{tmp}/{family}.onnx")
    torch.manual_seed(0)
    x = torch.randn(1, 3, 224, 224)
    net = TORCHVISION[family]().eval()
    ours = layer_params(model)
    theirs = torch_layers(net, x)
    if len(ours) != len(theirs):
        return f"{len(ours)} conv/bn/fc layers, torchvision runs {len(theirs)}"
    with torch.no_grad():
        for (op, ts), m in zip(ours, theirs):
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(ts[0]), m.bias.copy_(ts[1])
                m.running_mean.copy_(ts[2]), m.running_var.copy_(ts[3])
                m.eps = 1e-5  # the zoo's epsilon (torchvision's GoogLeNet uses 1e-3)
            else:
                if m.weight.shape != ts[0].shape:
                    return f"{op} weight {tuple(ts[0].shape)} vs torchvision {tuple(m.weight.shape)}"
                m.weight.copy_(ts[0])
                if (m.bias is None) != (len(ts) < 2):
                    return f"{op} bias differs from torchvision's"
                if m.bias is not None:
                    m.bias.copy_(ts[1])
        a = run_onnx(model, x)
        b = net(x)
    return f"max |logit diff| {float((a - b).abs().max()):.2e} (logits up to {float(b.abs().max()):.2e})"


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    families = sys.argv[2:] or list(TORCHVISION)
    with tempfile.TemporaryDirectory() as tmp:
        for f in families:
            print(f"{f:18s} {compare(build, f, tmp)}", flush=True)


if __name__ == "__main__":
    main()
