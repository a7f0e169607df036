// nnjoule's Python module, _nnjoule: the library's records cross as the same JSON the CLI prints
// (docs/cli.md), converted to dicts and lists, so Python and the command line agree by
// construction. The friendlier layer (context managers, numpy) is nnjoule/__init__.py.
#include <fmt/format.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nnjoule/collect/measurement.hpp"
#include "nnjoule/collect/protocol.hpp"
#include "nnjoule/collect/session.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/exec/run.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/kernels/inspect.hpp"
#include "nnjoule/meter/discovery.hpp"
#include "nnjoule/meter/report.hpp"
#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/store/store.hpp"
#include "nnjoule/version.hpp"
#include "nnjoule/zoo/quantize.hpp"
#include "nnjoule/zoo/zoo.hpp"

namespace py = pybind11;
using namespace nnjoule;

namespace {

py::object to_py(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return py::none();
    case nlohmann::json::value_t::boolean:
      return py::bool_(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return py::int_(j.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return py::int_(j.get<uint64_t>());
    case nlohmann::json::value_t::number_float:
      return py::float_(j.get<double>());
    case nlohmann::json::value_t::string:
      return py::str(j.get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      py::list l;
      for (const auto& v : j) l.append(to_py(v));
      return l;
    }
    case nlohmann::json::value_t::object: {
      py::dict d;
      for (const auto& [k, v] : j.items()) d[py::str(k)] = to_py(v);
      return d;
    }
    case nlohmann::json::value_t::binary:
      break;
  }
  fail("internal: a binary JSON value has no Python form");
}

collect::MeterSetup meter_setup(const std::vector<std::string>& meters,
                                const std::string& device_file, const std::string& trace,
                                std::optional<double> trace_start, double trace_offset,
                                bool allow_charging, const std::string& root) {
  collect::MeterSetup s;
  s.root = root;
  s.device_file = device_file;
  s.trace = trace;
  s.trace_start_epoch_s = trace_start;
  s.trace_offset_s = trace_offset;
  s.allow_charging = allow_charging;
  s.meters = meters;
  return s;
}

// A float32 buffer (numpy array, array.array('f'), memoryview) as the model input `info`.
exec::Tensor tensor_from(const py::buffer& b, const exec::TensorInfo& info, size_t index) {
  const py::buffer_info bi = b.request();
  if (bi.itemsize != 4 || (bi.format != "f" && bi.format != "<f" && bi.format != "=f"))
    fail("input {} ('{}'): float32 data needed, got buffer format '{}' of {} bytes per item", index,
         info.name, bi.format, bi.itemsize);
  int64_t expected = 1;
  for (auto d : info.shape) expected *= d;
  if (bi.size != expected)
    fail("input {} ('{}'): {} values given, the model needs {} ({})", index, info.name, bi.size,
         expected, graph::shape_str(info.shape));
  // Only C-contiguous data is copied as one block; anything else is refused, not reordered.
  ssize_t stride = bi.itemsize;
  for (ssize_t d = bi.ndim - 1; d >= 0; --d) {
    if (bi.shape[d] > 1 && bi.strides[d] != stride)
      fail("input {} ('{}'): the array is not C-contiguous (numpy.ascontiguousarray it)", index,
           info.name);
    stride *= bi.shape[d];
  }
  exec::Tensor t;
  t.shape = info.shape;
  t.data.resize(static_cast<size_t>(expected));
  std::memcpy(t.data.data(), bi.ptr, t.data.size() * sizeof(float));
  return t;
}

py::dict run(const std::string& model, int threads, const std::vector<int>& cpus, int runs,
             int warmup, bool per_kernel, bool standalone, uint64_t seed,
             const std::vector<py::buffer>& inputs) {
  const graph::Graph g = graph::load_onnx(model);
  exec::RunOptions o;
  o.compile.threads = threads;
  o.compile.cpus = cpus;
  o.harness.runs = runs;
  o.harness.warmup = warmup;
  o.per_kernel = per_kernel;
  o.standalone = standalone;
  o.seed = seed;
  if (!inputs.empty()) {
    if (inputs.size() != g.inputs.size())
      fail("{}: {} inputs given, the model has {}", model, inputs.size(), g.inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i)
      o.inputs.push_back(tensor_from(inputs[i], {g.inputs[i], g.shape(g.inputs[i])}, i));
  }
  exec::ModelRun r;
  {
    py::gil_scoped_release nogil;
    r = with_context(model, [&] { return exec::run_model(g, o); });
  }
  py::dict d = to_py(exec::to_json(r, model));
  py::list outputs;
  for (size_t i = 0; i < r.outputs.size(); ++i) {
    const auto& t = r.outputs[i];
    py::dict od;
    od["name"] = r.output_info[i].name;
    od["shape"] = t.shape;
    od["data"] =
        py::bytes(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
    outputs.append(od);
  }
  d["outputs"] = outputs;
  return d;
}

py::object measure(const std::string& model, int threads, const std::vector<int>& cpus,
                   const collect::MeterSetup& setup, double idle_s, double ci_percent,
                   double min_window_s, double time_cap_s, uint64_t seed) {
  const graph::Graph g = graph::load_onnx(model);
  collect::ProtocolOptions po;
  po.idle_s = idle_s;
  po.ci_target = ci_percent / 100.0;
  po.min_window_s = min_window_s;
  po.time_cap_s = time_cap_s;
  collect::ModelOptions mo;
  mo.threads = threads;
  mo.cpus = cpus;
  mo.seed = seed;
  collect::Measurement m;
  {
    py::gil_scoped_release nogil;
    collect::Session session(setup);
    m = collect::measure_model(session.context(), g, model, mo, po);
    session.stop();
    m.notes.insert(m.notes.begin(), session.notes().begin(), session.notes().end());
  }
  return to_py(collect::to_json(m));
}

// An energy window around the caller's own work (Zeus's begin_window / end_window). The
// estimate, where no sensor exists, charges this process's CPU time.
class Monitor {
 public:
  explicit Monitor(const collect::MeterSetup& setup)
      : session_(std::make_unique<collect::Session>(setup)) {}
  void begin(const std::string& name) { live().sampler().begin_window(name); }
  py::object end(const std::string& name) {
    meter::EnergyWindow w;
    {
      py::gil_scoped_release nogil;
      w = live().sampler().end_window(name);
    }
    return to_py(meter::to_json(w));
  }
  std::vector<std::string> notes() const { return session_ ? session_->notes() : notes_; }
  py::object provenance() const {
    if (!session_) fail("monitor: stopped");
    return to_py(to_json(session_->provenance()));
  }
  void stop() {
    if (!session_) return;
    notes_ = session_->notes();
    session_->stop();
    session_.reset();
  }

 private:
  collect::Session& live() {
    if (!session_) fail("monitor: stopped; windows need a running monitor");
    return *session_;
  }
  std::unique_ptr<collect::Session> session_;
  std::vector<std::string> notes_;
};

class PyPredictor {
 public:
  explicit PyPredictor(const std::string& bundle) : p_(predict::Predictor::load(bundle)) {}
  py::object predict(const std::string& model) const {
    const graph::Graph g = graph::load_onnx(model);
    nlohmann::json j;
    {
      py::gil_scoped_release nogil;
      j = with_context(model, [&] { return p_.predict(g); }).to_json();
    }
    j["graph_notes"] = g.notes;
    return to_py(j);
  }
  py::object provenance() const { return to_py(to_json(p_.provenance())); }
  std::string summary() const { return predict::render_summary(p_); }

 private:
  predict::Predictor p_;
};

py::list read_table(const std::string& path, const std::string& table) {
  store::Store s(path, store::Store::Options{.read_only = true});
  const store::TableDump t = s.dump(table);
  py::list rows;
  for (const auto& row : t.rows) {
    py::dict d;
    for (size_t c = 0; c < t.columns.size(); ++c) d[py::str(t.columns[c])] = to_py(row[c]);
    rows.append(d);
  }
  return rows;
}

py::object zoo_export(const std::string& family, const std::string& path, int64_t resolution,
                      int64_t variant, uint64_t seed) {
  const zoo::ModelSpec spec{
      .family = family, .resolution = resolution, .variant = variant, .seed = seed};
  graph::Graph g = zoo::build_model(spec);
  g.name = zoo::model_name(spec);
  graph::save_onnx(g, path);
  return to_py({{"path", path}, {"name", g.name}, {"resolution", zoo::resolved_resolution(spec)}});
}

// The zoo's post-training quantizer, as `nnjoule quantize` runs it.
py::object quantize(const std::string& model, const std::string& output, int64_t calibration,
                    int64_t eval, uint64_t seed) {
  const graph::Graph g = graph::load_onnx(model);
  zoo::QuantizeReport r;
  const zoo::QuantizeOptions o{.runner = exec::run_feeds,
                               .calibration_inputs = calibration,
                               .eval_inputs = eval,
                               .seed = seed};
  graph::save_onnx(zoo::quantize_qdq(g, o, &r), output);
  nlohmann::json j = {{"path", output},
                      {"quantized_ops", r.quantized_ops},
                      {"quantized_tensors", r.quantized_tensors},
                      {"quantized_weights", r.quantized_weights},
                      {"folded_batchnorms", r.folded_batchnorms},
                      {"calibration_inputs", r.calibration_inputs},
                      {"eval_inputs", r.eval_inputs},
                      {"top1_agreement", nullptr},
                      {"snr_db", nullptr}};
  if (r.eval_inputs > 0) {
    j["top1_agreement"] = r.top1_agreement;
    j["snr_db"] = r.snr_db;
    j["agreement_origin"] =
        fmt::format("measured: int8 vs fp32 on {} synthetic inputs", r.eval_inputs);
  }
  return to_py(j);
}

}  // namespace

PYBIND11_MODULE(_nnjoule, m) {
  m.doc() = "nnjoule: measure, predict and score the energy of neural-network inference";
  m.attr("__version__") = kVersion;
  static py::exception<Error> error(m, "Error", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      PyErr_SetString(error.ptr(), e.what());
    }
  });

  m.def(
      "inspect",
      [](const std::string& model, const std::string& rules) {
        return to_py(kernels::to_json(kernels::inspect_model(model, rules)));
      },
      py::arg("model"), py::arg("rules") = "");
  m.def("run", &run, py::arg("model"), py::arg("threads") = 1, py::arg("cpus") = std::vector<int>{},
        py::arg("runs") = 50, py::arg("warmup") = 10, py::arg("per_kernel") = false,
        py::arg("standalone") = false, py::arg("seed") = 1,
        py::arg("inputs") = std::vector<py::buffer>{});
  m.def("meter_setup", &meter_setup, py::arg("meters") = std::vector<std::string>{},
        py::arg("device_file") = "", py::arg("trace") = "",
        py::arg("trace_start") = std::optional<double>{}, py::arg("trace_offset") = 0.0,
        py::arg("allow_charging") = false, py::arg("root") = "/");
  py::class_<collect::MeterSetup>(m, "MeterSetup");
  m.def("measure", &measure, py::arg("model"), py::arg("threads"), py::arg("cpus"),
        py::arg("setup"), py::arg("idle_s"), py::arg("ci_percent"), py::arg("min_window_s"),
        py::arg("time_cap_s"), py::arg("seed"));
  m.def(
      "meters",
      [](const collect::MeterSetup& setup, std::optional<double> probe_s) {
        nlohmann::json j;
        {
          py::gil_scoped_release nogil;
          j = meter::to_json(meter::survey_meters(collect::discover_options(setup), probe_s));
        }
        return to_py(j);
      },
      py::arg("setup"), py::arg("probe_s"));
  py::class_<Monitor>(m, "Monitor")
      .def(py::init<const collect::MeterSetup&>(), py::arg("setup"))
      .def("begin", &Monitor::begin)
      .def("end", &Monitor::end)
      .def("notes", &Monitor::notes)
      .def("provenance", &Monitor::provenance)
      .def("stop", &Monitor::stop);
  py::class_<PyPredictor>(m, "Predictor")
      .def(py::init<const std::string&>(), py::arg("bundle"))
      .def("predict", &PyPredictor::predict, py::arg("model"))
      .def("provenance", &PyPredictor::provenance)
      .def("summary", &PyPredictor::summary);
  m.def("read_table", &read_table, py::arg("path"), py::arg("table"));
  m.def("tables", [] { return store::Store::table_names(); });
  m.def(
      "dataset_info",
      [](const std::string& path) {
        store::Store s(path, store::Store::Options{.read_only = true});
        return to_py(s.info().to_json());
      },
      py::arg("path"));
  m.def("zoo_families", [] { return zoo::family_names(); });
  m.def("quantize", &quantize, py::arg("model"), py::arg("output"), py::arg("calibration") = 8,
        py::arg("eval_inputs") = 8, py::arg("seed") = 0);
  m.def("zoo_export", &zoo_export, py::arg("family"), py::arg("path"), py::arg("resolution") = 0,
        py::arg("variant") = -1, py::arg("seed") = 0);
}
