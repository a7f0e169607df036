#!/usr/bin/python3
"""Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/seed-*): small valid inputs
of every reader, made here so that no third-party file is committed. Inputs that once broke a
reader are added by hand beside them (crash-*), never rewritten by this script.

    /usr/bin/python3 fuzz/make_seeds.py      # needs python3-onnx and python3-numpy
    /usr/bin/python3 fuzz/make_seeds.py --bundle DIR   # also the predictor seeds, from a
                                                       # bundle `nnjoule train` wrote
"""
import argparse
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(os.path.join(d, "seed-" + name), mode) as f:
        f.write(data)


def w(name, *shape, seed=0):
    rng = np.random.default_rng(seed)
    return numpy_helper.from_array(rng.uniform(-1, 1, shape).astype(np.float32), name)


def model(name, nodes, inputs, outputs, inits, opset=13):
    g = helper.make_graph(nodes, name, inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    return m.SerializeToString()


def vi(name, *shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def onnx_seeds():
    x = vi("x", 1, 3, 8, 8)
    put("onnx", "conv-bn-relu.onnx", model("cbr", [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"]),
        helper.make_node("Relu", ["n"], ["y"])], [x], [vi("y", 1, 4, 8, 8)],
        [w("w", 4, 3, 3, 3), w("b", 4), w("s", 4), w("bb", 4), w("m", 4),
         numpy_helper.from_array(np.ones(4, np.float32), "v")]))
    put("onnx", "residual-pool-gemm.onnx", model("res", [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c", "x"], ["a"]),
        helper.make_node("Clip", ["a", "lo", "hi"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["z"], transB=1),
        helper.make_node("Softmax", ["z"], ["y"], axis=-1)], [x], [vi("y", 1, 5)],
        [w("w", 3, 3, 3, 3), numpy_helper.from_array(np.float32(0), "lo"),
         numpy_helper.from_array(np.float32(6), "hi"), w("fw", 5, 3), w("fb", 5)]))
    put("onnx", "concat-shuffle.onnx", model("cat", [
        helper.make_node("Conv", ["x", "w1"], ["a"], group=1),
        helper.make_node("Conv", ["x", "w2"], ["b"]),
        helper.make_node("Concat", ["a"], ["one"], axis=1),
        helper.make_node("Concat", ["one", "b", "x"], ["c"], axis=1),
        helper.make_node("Reshape", ["c", "s1"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["t", "s2"], ["y"])], [x], [vi("y", 1, 8, 8, 8)],
        [w("w1", 2, 3, 1, 1), w("w2", 3, 3, 1, 1),
         numpy_helper.from_array(np.array([1, 2, 4, 8, 8], np.int64), "s1"),
         numpy_helper.from_array(np.array([1, 8, 8, 8], np.int64), "s2")]))
    put("onnx", "dwconv-resize-pad.onnx", model("dw", [
        helper.make_node("Conv", ["x", "w"], ["d"], group=3, pads=[1, 1, 1, 1]),
        helper.make_node("HardSigmoid", ["d"], ["h"]),
        helper.make_node("Mul", ["d", "h"], ["hs"]),
        helper.make_node("Resize", ["hs", "", "sc"], ["u"], mode="linear"),
        helper.make_node("Pad", ["u", "pads"], ["p"], mode="reflect"),
        helper.make_node("Slice", ["p", "st", "en", "ax"], ["y"])], [x],
        [vi("y", 1, 3, 16, 16)],
        [w("w", 3, 1, 3, 3), numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "sc"),
         numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"),
         numpy_helper.from_array(np.array([1, 1], np.int64), "st"),
         numpy_helper.from_array(np.array([17, 17], np.int64), "en"),
         numpy_helper.from_array(np.array([2, 3], np.int64), "ax")]))
    put("onnx", "opset9-upsample-mean.onnx", model("old", [
        helper.make_node("Upsample", ["x", "sc"], ["u"], mode="nearest"),
        helper.make_node("ReduceMean", ["u"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("Sigmoid", ["m"], ["y"])], [x], [vi("y", 1, 3)],
        [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "sc")], opset=9))


def text_seeds():
    put("fusion_rules", "rules.json", json.dumps({
        "BF_conv_bn": {"obey": True}, "BF_conv_relu": {"obey": True},
        "BF_add_relu": {"obey": False}, "BF_dwconv_bn": {"obey": True}}))
    put("kernel_csv", "kernels.csv",
        "name,type,HW,CIN,COUT,KERNEL_SIZE,STRIDES\n"
        "c1,conv-bn-relu,56,64,64,3,1\nd1,dwconv-bn-relu,28,32,,3,2\n")
    put("kernel_csv", "concat.csv", "type,HW,CIN1,CIN2,CIN3\nconcat,14,32,64,16\n")
    put("trace_csv", "monsoon.csv",
        "Time(ms),Main(mA),Main Voltage(V)\n0,120.5,4.2\n0.2,130.1,4.19\n0.4,128,4.2\n")
    put("trace_csv", "power.csv", "time_s,power_w\n0,1.5\n0.001,1.7\n0.002,1.6\n")
    put("proc_stat", "stat",
        "cpu  4705 356 584 3699176 23 0 37 0 0 0\n"
        "cpu0 1393 280 264 1849516 12 0 21 0 0 0\n"
        "cpu1 3312 76 320 1849660 11 0 16 0 0 0\n"
        "intr 114930 0 0\nctxt 1990473\nbtime 1062191376\nprocesses 2915\n")
    put("suite_json", "suite.json", json.dumps({
        "name": "s", "delegates": ["CPU1", {"name": "big", "threads": 2}, "NNAPI"],
        "models": [{"id": "cls", "builtin": "mobilenetv2-224", "application": "classification",
                    "post": {"top_k": 3}},
                   {"id": "det", "builtin": "ssd-mobilenetv2-300", "precision": "int8",
                    "post": {"score_threshold": 0.4, "iou_threshold": 0.6}}]}))


def score_seeds():
    m = ("device,dnn,delegate,apc_w,eci_j,latency_ms\n"
         "A,DNN1,CPU1,2.5,0.05,20\nA,DNN1,CPU4,4.1,0.03,7.5\n"
         "B,DNN1,CPU1,1.9,0.06,31\nB,DNN1,CPU4,3.0,0.04,13\n")
    dev = "device,soc,tdp_w,price\nA,Kirin 990,5,699\nB,Snapdragon 865,7.5,599\n"
    put("score_tables", "both", (m + "\0" + dev).encode())
    put("score_tables", "measurements-only", m)


def device_file_seeds():
    put("device_file", "all.json", json.dumps({
        "estimate": {"idle_power_mw": 1500, "busy_core_power_mw": 900, "tdp_w": 15},
        "battery": {"sign": "negative-discharge", "allow_charging": True, "supply": "bms"},
        "ina": {"total_rail": "VIN_SYS_5V0"},
        "trace": {"path": "run.csv", "start_epoch_s": 1700000000.5, "offset_s": -0.25}}))


def deepen2023_seeds():
    # power, latency, energy and config files of one type, NUL-separated (fuzz/deepen2023.cpp)
    files = [{"fc": {"A1": {"power": "2000.0"}, "A2": {"power": "1000.0"}}},
             {"fc": {"A1": {"latency": "1.000"}, "A2": {"latency": "1.000"}}},
             {"fc": {"A1": {"energy": "2.000"}, "A2": {"energy": "1.000"}}},
             {"fc": {"A1": {"shapes": [[1280]], "config": {"CIN": 1280, "COUT": 1000}}}}]
    put("deepen2023", "fc", "\0".join(json.dumps(f) for f in files).encode())


def shrink_model(text, trees):
    """An XGBoost JSON model cut to its first `trees` trees: still a valid model, small enough
    for the fuzzer to mutate."""
    m = json.loads(text)
    model = m["learner"]["gradient_booster"]["model"]
    model["trees"] = model["trees"][:trees]
    model["tree_info"] = model["tree_info"][:trees]
    model["gbtree_model_param"]["num_trees"] = str(len(model["trees"]))
    return json.dumps(m, separators=(",", ":"))


def bundle_seeds(bundle):
    with open(os.path.join(bundle, "predictor.json")) as f:
        predictor = f.read()
    files = []
    for t in json.loads(predictor)["kernel_types"].values():
        for entry in t["models"].values():
            with open(os.path.join(bundle, entry["file"])) as f:
                files.append((entry["file"], shrink_model(f.read(), 3)))
    put("regressor_json", "three-trees.json", files[0][1])
    packed = predictor
    for name, text in files:
        packed += "\0" + name + "\0" + text
    put("predictor_bundle", "bundle", packed.encode())
    put("predictor_bundle", "predictor-only", predictor)


def nnmeter_seeds():
    nodes = {}

    def add(name, typ, inb, out_shape, attrs=None):
        in_shapes = [nodes[i]["attr"]["output_shape"][0] for i in inb]
        nodes[name] = {"inbounds": inb, "outbounds": [],
                       "attr": {"name": name, "type": typ, "attr": attrs or {},
                                "output_shape": [out_shape], "input_shape": in_shapes}}

    add("input_im_0", "Placeholder", [], [1, 16, 16, 3], {"shape": [1, 16, 16, 3]})
    add("conv/Conv2D", "Conv2D", ["input_im_0"], [1, 8, 8, 8],
        {"strides": [2, 2], "dilations": [1, 1], "padding": "SAME", "kernel_shape": [3, 3],
         "weight_shape": [3, 3, 3, 8], "pads": [0, 0, 0, 0]})
    add("conv/bn", "FusedBatchNormV3", ["conv/Conv2D"], [1, 8, 8, 8])
    add("conv/relu", "Relu", ["conv/bn"], [1, 8, 8, 8])
    add("pool", "MaxPool", ["conv/relu"], [1, 4, 4, 8],
        {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"})
    add("cat", "ConcatV2", ["pool", "pool"], [1, 4, 4, 16], {"axis": [3]})
    add("mean", "Mean", ["cat"], [1, 16], {"reduction_indices": [1, 2]})
    add("fc/MatMul", "MatMul", ["mean"], [1, 10])
    for n, v in nodes.items():
        for i in v["inbounds"]:
            nodes[i]["outbounds"].append(n)
    put("nnmeter_ir", "ir.json", json.dumps(nodes))
    records = [{"id": "m1", "graph": nodes, "cortexA76cpu_tflite21": 3.25, "adreno640gpu_tflite21": None},
               {"id": "m2", "graph": nodes, "cortexA76cpu_tflite21": 3.5}]
    put("nnmeter_jsonl", "records.jsonl", "".join(json.dumps(r) + "\n" for r in records))


def sysfs_seeds():
    rapl = ["package-0\n", "123456789\n", "262143328850\n", "65000000\n", "1\n",
            "core\n", "2345678\n", "262143328850\n"]
    hwmon = ["ina3221\n", "5000\n", "1200\n", "VDD_IN\n", "6000000\n", "12345\n"]
    battery = ["Battery\n", "Discharging\n", "3900000\n", "-450000\n", "1755000\n",
               "Mains\n", "0\n"]
    put("sysfs_meters", "rapl", "\0".join(rapl).encode())
    put("sysfs_meters", "all", "\0".join(rapl + hwmon + battery).encode())
    put("sysfs_meters", "battery", "\0".join([""] * 8 + [""] * 6 + battery).encode())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", help="a predictor bundle directory (nnjoule train --out)")
    args = ap.parse_args()
    onnx_seeds()
    device_file_seeds()
    deepen2023_seeds()
    if args.bundle:
        bundle_seeds(args.bundle)
    text_seeds()
    nnmeter_seeds()
    score_seeds()
    sysfs_seeds()
