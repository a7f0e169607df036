"""nnjoule: measure, predict and score the energy of neural-network inference.

Every record is the same JSON the command line prints (docs/cli.md), as dicts and lists, and
every number in it says where it came from: measured (by which meter), estimated, predicted
or counted. A worked example is in docs/python.md.

    import nnjoule
    kernels = nnjoule.inspect("model.onnx")["kernels"]
    with nnjoule.Monitor() as mon:
        with mon.window("work") as w:
            work()
    print(w.energy_mj, w.provenance["label"])
"""

from . import _nnjoule
from ._nnjoule import Error

__version__ = _nnjoule.__version__
__all__ = [
    "Error",
    "Monitor",
    "Predictor",
    "Window",
    "dataset_info",
    "inspect",
    "measure",
    "meters",
    "quantize",
    "read_dataset",
    "run",
    "tables",
    "zoo_export",
    "zoo_families",
]

try:
    import numpy as _np
except ImportError:  # numpy is optional: lists and bytes stand in for arrays
    _np = None


def _setup(meters=None, device_file="", trace="", trace_start=None, trace_offset=0.0,
           allow_charging=False, root="/"):
    if isinstance(meters, str):
        meters = [m for m in meters.split(",") if m]
    return _nnjoule.meter_setup(list(meters or []), str(device_file), str(trace), trace_start,
                                float(trace_offset), bool(allow_charging), str(root))


def inspect(model, rules=""):
    """Split an ONNX model into kernels: type, config, FLOPs, params and bytes of each
    (counted, not measured). `rules` is an nn-Meter fusion_rules.json file."""
    return _nnjoule.inspect(str(model), str(rules))


def _as_array(out):
    if _np is None:
        import array
        a = array.array("f")
        a.frombytes(out["data"])
        return a
    return _np.frombuffer(out["data"], dtype=_np.float32).reshape(out["shape"]).copy()


def _cpus(cpus):
    if cpus is None:
        return []
    if isinstance(cpus, str):
        result = []
        for part in cpus.split(","):
            lo, _, hi = part.partition("-")
            result.extend(range(int(lo), int(hi or lo) + 1))
        return result
    return [int(c) for c in cpus]


def run(model, threads=1, cpus=None, runs=50, warmup=10, per_kernel=False, standalone=False,
        seed=1, inputs=None):
    """Run an ONNX model on nnjoule's XNNPACK engine and time it (measured, wall clock).

    inputs: one float32 array per model input (numpy arrays, array.array('f'), any buffer);
    default: uniform random inputs from `seed`. The result holds the latency summary
    (`latency_ms`, with its provenance), every sample, per-kernel timings when asked, and
    `outputs`: one array per model output (numpy where present, else array.array)."""
    bufs = []
    for x in inputs or []:
        if _np is not None and not isinstance(x, (bytes, bytearray, memoryview)):
            x = _np.ascontiguousarray(x, dtype=_np.float32)
        bufs.append(x)
    r = _nnjoule.run(str(model), int(threads), _cpus(cpus), int(runs), int(warmup),
                     bool(per_kernel), bool(standalone), int(seed), bufs)
    r["outputs"] = [_as_array(o) for o in r["outputs"]]
    return r


def measure(model, threads=1, cpus=None, meters=None, idle_s=2.0, ci_percent=2.0,
            min_window_s=0.5, time_cap_s=60.0, seed=1, **meter_options):
    """Measure a model's energy per inference with the measurement protocol (idle baselines,
    windows of K meter updates, repeated to a 95% CI target): what `nnjoule measure MODEL.onnx
    --json` prints. meters: kinds or names ("rapl", "nvml", "estimate", ...), the first
    primary; default every live sensor, else the labelled cpu-time estimate."""
    return _nnjoule.measure(str(model), int(threads), _cpus(cpus), _setup(meters, **meter_options),
                            float(idle_s), float(ci_percent), float(min_window_s),
                            float(time_cap_s), int(seed))


def meters(probe_ms=None, **meter_options):
    """The meters found (domains, update period, resolution) and why others are missing."""
    probe_s = None if probe_ms is None else float(probe_ms) / 1e3
    return _nnjoule.meters(_setup(**meter_options), probe_s)


class Window:
    """One energy window's result, filled when the `with` block ends."""

    def __init__(self, name):
        self.name = name
        self.record = None

    def _get(self, key):
        if self.record is None:
            raise Error(f"window '{self.name}': still open (read it after the with block)")
        return self.record.get(key)

    @property
    def energy_mj(self):
        return self._get("energy_mj")

    @property
    def avg_power_mw(self):
        return self._get("avg_power_mw")

    @property
    def duration_ms(self):
        return self._get("duration_ms")

    @property
    def provenance(self):
        return self._get("provenance")

    def __repr__(self):
        if self.record is None:
            return f"<nnjoule.Window {self.name!r} open>"
        return (f"<nnjoule.Window {self.name!r} {self.energy_mj:.3f} mJ over "
                f"{self.duration_ms:.1f} ms, {self.provenance['label']}>")


class Monitor:
    """Energy windows around this program's own work, like Zeus's begin_window/end_window.

    The meters are chosen as `nnjoule measure` chooses them; where no sensor exists the
    estimate charges this process's CPU time and every window says `estimated`. Windows can
    nest and overlap. Use as a context manager (stops the sampler on exit) or call stop()."""

    def __init__(self, meters=None, **meter_options):
        self._m = _nnjoule.Monitor(_setup(meters, **meter_options))

    def begin_window(self, name):
        self._m.begin(str(name))

    def end_window(self, name):
        """The window's record: primary meter energy_mj, avg_power_mw, provenance, and every
        meter and domain under `meters`."""
        return self._m.end(str(name))

    def window(self, name="window"):
        monitor, w = self, Window(str(name))

        class _Ctx:
            def __enter__(self):
                monitor.begin_window(w.name)
                return w

            def __exit__(self, *exc):
                w.record = monitor.end_window(w.name)
                return False

        return _Ctx()

    @property
    def notes(self):
        """Meters skipped and why, fallbacks taken."""
        return self._m.notes()

    @property
    def provenance(self):
        return self._m.provenance()

    def stop(self):
        self._m.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class Predictor:
    """A predictor bundle (nnjoule train / build-predictor): energy, latency and power of
    models that were never run, kernel by kernel, each number labelled `predicted`."""

    def __init__(self, bundle):
        self._p = _nnjoule.Predictor(str(bundle))

    def predict(self, model):
        return self._p.predict(str(model))

    @property
    def provenance(self):
        return self._p.provenance()

    def summary(self):
        return self._p.summary()


def tables():
    """The tables of a dataset file."""
    return _nnjoule.tables()


def dataset_info(path):
    """Devices, runs and row counts of a dataset file (opened read-only)."""
    return _nnjoule.dataset_info(str(path))


def read_dataset(path, table="kernel_measurements", arrays=False):
    """A dataset table as a list of dicts (one per row, None for NULL); with arrays=True, a
    dict of numpy arrays, one per column (numbers as float64 with NaN for NULL, text as
    object arrays). The file is opened read-only."""
    rows = _nnjoule.read_table(str(path), str(table))
    if not arrays:
        return rows
    if _np is None:
        raise Error("read_dataset(arrays=True) needs numpy (Debian: python3-numpy)")
    columns = list(rows[0].keys()) if rows else []
    out = {}
    for c in columns:
        values = [r[c] for r in rows]
        if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
               for v in values):
            out[c] = _np.array([_np.nan if v is None else v for v in values], dtype=_np.float64)
        else:
            out[c] = _np.array(values, dtype=object)
    return out


def zoo_families():
    """The model zoo's CNN families."""
    return _nnjoule.zoo_families()


def quantize(model, output, calibration=8, eval_inputs=8, seed=0):
    """Quantize a float ONNX model into int8 QDQ form (the zoo's post-training quantizer, as
    `nnjoule quantize`); returns the counts and the int8/fp32 agreement measured on
    `eval_inputs` fresh synthetic inputs (None without them)."""
    return _nnjoule.quantize(str(model), str(output), int(calibration), int(eval_inputs),
                             int(seed))


def zoo_export(family, path, resolution=0, variant=-1, seed=0):
    """Write a zoo model (base model, or variant k of `seed`) as an ONNX file."""
    return _nnjoule.zoo_export(str(family), str(path), int(resolution), int(variant), int(seed))
