"""The Python module as a user drives it: models written by the onnx package and by the zoo,
run, measured, predicted, read back; results checked against numpy and against the CLI."""
import json
import os
import subprocess
import threading

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import nnjoule

CLI = os.environ.get("NNJOULE_CLI", "nnjoule")


def cli(*args):
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, f"nnjoule {' '.join(map(str, args))}: {r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Conv(3->4, 3x3, pad 1) + Relu + GlobalAveragePool + Flatten + Gemm(4->2), written by the
    onnx package (not by nnjoule), with its weights for a numpy reference."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    fw = rng.standard_normal((2, 4)).astype(np.float32)
    fb = rng.standard_normal(2).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [numpy_helper.from_array(a, n) for a, n in ((w, "w"), (b, "b"), (fw, "fw"), (fb, "fb"))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    onnx.save(model, str(path))

    def reference(x):
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        c = np.zeros((1, 4, 8, 8), np.float64)
        for i in range(3):
            for j in range(3):
                c += np.einsum("nchw,oc->nohw", xp[:, :, i:i + 8, j:j + 8], w[:, :, i, j])
        c += b[None, :, None, None]
        p = np.maximum(c, 0).mean(axis=(2, 3))
        return p @ fw.T + fb

    return path, reference


@pytest.fixture(scope="module")
def zoo_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("zoo") / "mnv2.onnx"
    info = nnjoule.zoo_export("mobilenetv2", path, resolution=64)
    assert info["path"] == str(path) and info["resolution"] == 64
    return path


def test_quantize_and_run_int8(zoo_model, tmp_path):
    out = tmp_path / "mnv2-int8.onnx"
    q = nnjoule.quantize(zoo_model, out, calibration=4, eval_inputs=4)
    assert q["path"] == str(out) and q["quantized_weights"] > 0
    assert q["snr_db"] > 10 and "measured" in q["agreement_origin"]
    r = nnjoule.run(out, runs=2, warmup=1)
    assert any(n.startswith("int8 operators: ") for n in r["notes"])
    kinds = {k["dtype"] for k in nnjoule.inspect(out)["kernels"]}
    assert "int8" in kinds
    with pytest.raises(nnjoule.Error, match="already"):
        nnjoule.quantize(out, tmp_path / "twice.onnx")


@pytest.fixture(scope="module")
def dataset_and_bundle(tmp_path_factory):
    """A small kernel dataset measured with the labelled estimate, and a bundle trained on it,
    both by the CLI (what a user does before predicting from Python)."""
    d = tmp_path_factory.mktemp("data")
    db, bundle = d / "k.db", d / "bundle"
    cli("collect", "kernels", "--db", db, "--kernels", "conv-bn-relu,dwconv-bn-relu,fc,add",
        "--count", 12, "--floor", 4, "--profile", "quick", "--idle", 0, "--meter", "estimate",
        "--prior-variants", 0)
    cli("train", "--db", db, "--out", bundle, "--min-samples", 3, "--cv-folds", 0)
    return db, bundle


def test_version_and_zoo():
    assert nnjoule.__version__ == cli("--version").split()[-1]
    assert "mobilenetv2" in nnjoule.zoo_families()
    assert "resnet18" in nnjoule.zoo_families()


def test_inspect_matches_the_cli(tiny, zoo_model):
    for path in (tiny[0], zoo_model):
        r = nnjoule.inspect(path)
        assert r == json.loads(cli("inspect", path, "--json"))
        assert r["origin"] == "counted"
        assert r["totals"]["kernels"] == len(r["kernels"]) > 0
    r = nnjoule.inspect(tiny[0])
    assert [k["type"] for k in r["kernels"]][0].startswith("conv")
    assert r["kernels"][0]["flops"] == 2 * 4 * 8 * 8 * 3 * 3 * 3 + 4 * 8 * 8 * 2  # MACs + bias, relu


def test_run_agrees_with_numpy_every_run_and_thread_count(tiny):
    path, reference = tiny
    x = np.random.default_rng(3).uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)
    want = reference(x.astype(np.float64))
    for threads in (1, 2):
        for _ in range(3):
            r = nnjoule.run(path, threads=threads, runs=3, warmup=1, inputs=[x])
            (y,) = r["outputs"]
            assert y.shape == (1, 2) and y.dtype == np.float32
            np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    assert r["latency_ms"]["provenance"].startswith("measured")
    assert len(r["samples_ms"]) == 3 and r["latency_ms"]["median"] > 0
    # Non-contiguous and float64 inputs are converted, not misread.
    xt = np.asfortranarray(x.astype(np.float64))
    np.testing.assert_allclose(nnjoule.run(path, runs=1, warmup=0, inputs=[xt])["outputs"][0],
                               want, rtol=1e-5, atol=1e-5)


def test_run_per_kernel_and_from_two_python_threads(zoo_model):
    r = nnjoule.run(zoo_model, runs=2, warmup=1, per_kernel=True)
    assert len(r["kernels"]) > 10
    results = [None, None]

    def work(i):
        results[i] = nnjoule.run(zoo_model, runs=2, warmup=0, seed=5)["outputs"][0]

    ts = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert results[0].shape == (1, 1000)
    np.testing.assert_array_equal(results[0], results[1])


def test_bad_inputs_are_one_line_errors(tiny, tmp_path):
    path, _ = tiny
    with pytest.raises(nnjoule.Error, match=r"input 0 \('x'\): 10 values given, the model needs 192"):
        nnjoule.run(path, inputs=[np.zeros(10, np.float32)])
    with pytest.raises(nnjoule.Error, match="2 inputs given, the model has 1"):
        nnjoule.run(path, inputs=[np.zeros(192, np.float32)] * 2)
    with pytest.raises(nnjoule.Error) as e:
        nnjoule.inspect(tmp_path / "missing.onnx")
    assert "missing.onnx" in str(e.value) and "\n" not in str(e.value)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not a model")
    with pytest.raises(nnjoule.Error, match="garbage.onnx"):
        nnjoule.run(garbage)
    with pytest.raises(nnjoule.Error, match="no-such-meter"):
        nnjoule.Monitor(meters="no-such-meter")


def test_measure_a_model_with_the_labelled_estimate(tiny):
    m = nnjoule.measure(tiny[0], meters="estimate", idle_s=0, min_window_s=0.05, time_cap_s=2)
    assert m["kind"] == "model" and m["meter"] == "estimate"
    assert m["provenance"]["origin"] == "estimated"
    assert m["energy_per_inference_mj"] > 0 and m["inferences"] > 0
    assert m["latency_ms"] > 0
    assert m["dynamic_energy_mj"] is None  # no idle baseline taken: unknown, not zero


def test_monitor_windows_nest_and_say_where_numbers_come_from():
    with nnjoule.Monitor(meters="estimate") as mon:
        assert mon.provenance["origin"] == "estimated"
        with mon.window("outer") as outer:
            with mon.window("inner") as inner:
                sum(i * i for i in range(300000))
            with pytest.raises(nnjoule.Error, match="still open"):
                outer.energy_mj
        with pytest.raises(nnjoule.Error, match="nope"):
            mon.end_window("nope")
    for w in (outer, inner):
        assert w.energy_mj > 0 and w.duration_ms > 0
        assert w.provenance["label"].startswith("estimated")
        assert w.record["meters"][0]["domains"]
    assert outer.duration_ms >= inner.duration_ms
    assert outer.energy_mj >= inner.energy_mj
    with pytest.raises(nnjoule.Error, match="stopped"):
        mon.begin_window("late")


def test_meters_lists_every_family():
    r = nnjoule.meters(probe_ms=50)
    kinds = {m["kind"] for m in r["meters"]}
    assert {"rapl", "nvml", "estimate"} <= kinds


def test_predict_matches_the_cli(dataset_and_bundle, zoo_model):
    _, bundle = dataset_and_bundle
    p = nnjoule.Predictor(bundle)
    assert p.provenance["origin"] == "predicted"
    r = p.predict(zoo_model)
    assert r == json.loads(cli("predict", zoo_model, "--predictor", bundle, "--json"))
    assert r["total"]["energy_mj"] > 0
    assert len(r["kernels"]) == len(nnjoule.inspect(zoo_model)["kernels"])
    assert "regressor" in p.summary().lower() or "fallback" in p.summary().lower()
    with pytest.raises(nnjoule.Error, match="nowhere"):
        nnjoule.Predictor(bundle.parent / "nowhere")


def test_read_dataset_as_rows_and_arrays(dataset_and_bundle):
    db, _ = dataset_and_bundle
    assert "kernel_measurements" in nnjoule.tables()
    rows = nnjoule.read_dataset(db)
    assert len(rows) > 0
    assert {"kernel_type", "energy_mj", "latency_ms"} <= set(rows[0])
    assert {r["kernel_type"] for r in rows} <= {"conv-bn-relu", "dwconv-bn-relu", "fc", "add"}
    info = nnjoule.dataset_info(db)
    assert json.dumps(info)  # plain data
    cols = nnjoule.read_dataset(db, arrays=True)
    assert len(cols["energy_mj"]) == len(rows) and cols["energy_mj"].dtype == np.float64
    assert cols["kernel_type"].dtype == object
    dump = json.loads(cli("db", "export", db, "--table", "kernel_measurements", "--json"))
    assert len(dump["tables"]["kernel_measurements"]) == len(rows)
    with pytest.raises(nnjoule.Error, match="no_such_table"):
        nnjoule.read_dataset(db, "no_such_table")
