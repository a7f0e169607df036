// compile(): lowering, liveness, arena planning, the memory check, operator creation and
// binding; CompiledModel: running and per-step timing.
#include "nnjoule/exec/engine.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <unistd.h>

#include "compiler.hpp"
#include "internal.hpp"
#include "nnjoule/common/error.hpp"

namespace nnjoule::exec {

using detail::BindContext;

float* CompiledModel::Impl::ptr(int value) {
  const detail::Value& v = values[value];
  if (v.constant >= 0) return constants[v.constant].data();
  return arena.get() + buffers[v.buffer].offset / static_cast<int64_t>(sizeof(float));
}

namespace {

// MemAvailable from /proc/meminfo, in bytes; -1 when unknown.
int64_t available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) == 0) {
      std::istringstream ss(line.substr(13));
      int64_t kb = 0;
      ss >> kb;
      return kb * 1024;
    }
  }
  return -1;
}

std::string size_str(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024.0 * 1024.0)
    return fmt::format("{:.1f} GiB", b / (1024.0 * 1024.0 * 1024.0));
  if (b >= 1024.0 * 1024.0) return fmt::format("{:.1f} MiB", b / (1024.0 * 1024.0));
  return fmt::format("{:.1f} KiB", b / 1024.0);
}

}  // namespace

int max_threads() {
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return 4 * static_cast<int>(std::max(1L, online));
}

void check_threads(int threads) {
  if (threads < 1) fail("threads must be at least 1, got {}", threads);
  if (threads > max_threads()) {
    fail("{} threads is more than this machine runs: at most {} (4 x the {} CPUs online)", threads,
         max_threads(), max_threads() / 4);
  }
}

CompiledModel compile(const graph::Graph& g, const CompileOptions& options) {
  check_threads(options.threads);
  detail::ensure_xnnpack_initialized();
  auto m = std::make_unique<CompiledModel::Impl>();
  m->threads = options.threads;
  m->cpus = options.cpus;
  detail::Compiler(g, *m).run();

  // Liveness: a buffer lives from the first step that touches any of its views to the last.
  const int n_steps = static_cast<int>(m->steps.size());
  auto touch = [&](int value, int step) {
    const int b = m->values[value].buffer;
    if (b < 0) return;
    m->buffers[b].first = std::min(m->buffers[b].first, step);
    m->buffers[b].last = std::max(m->buffers[b].last, step);
  };
  for (int s = 0; s < n_steps; ++s) {
    for (int v : m->steps[s].reads) touch(v, s);
    for (int v : m->steps[s].writes) touch(v, s);
  }
  // Graph inputs are written once by set_input and read by every later run: they live across
  // runs, through all steps, so no activation may share their memory. Outputs are read after
  // the last step, until the next run writes them again.
  for (int v : m->input_values) {
    touch(v, 0);
    touch(v, n_steps);
  }
  for (int v : m->output_values) touch(v, n_steps);
  for (auto& b : m->buffers) {
    // Untouched: an input whose conversion moved into set_input, a value nothing reads.
    if (b.last < 0) b.first = b.last = 0, b.bytes = 0;
    m->activation_bytes += b.bytes;
  }
  m->arena_bytes = detail::plan_arena(m->buffers, 64);

  const int64_t limit =
      options.memory_limit_bytes > 0 ? options.memory_limit_bytes : available_memory();
  // Packed weights roughly equal the constants XNNPACK copies them from.
  const int64_t need = m->arena_bytes + m->constant_bytes;
  if (limit > 0 && need > limit) {
    fail(
        "model '{}' needs {} ({} of activations in the planned arena, {} of weights); only {} "
        "of memory is available",
        m->name, size_str(need), size_str(m->arena_bytes), size_str(m->constant_bytes),
        size_str(limit));
  }

  m->pool = std::make_unique<detail::ThreadPool>(options.threads, options.cpus);
  for (auto& s : m->steps) {
    if (s.create) s.create(m->pool->xnn_flags());
    s.create = nullptr;  // frees the weights it captured
  }
  void* raw = nullptr;
  const size_t arena = static_cast<size_t>(std::max<int64_t>(m->arena_bytes, 64));
  if (posix_memalign(&raw, 64, arena) != 0) {
    fail("model '{}': cannot allocate the {} activation arena", m->name, size_str(m->arena_bytes));
  }
  m->arena = std::unique_ptr<float, void (*)(void*)>(static_cast<float*>(raw), std::free);
  std::memset(raw, 0, arena);

  m->output_staging.resize(m->outputs.size());
  BindContext ctx;
  CompiledModel::Impl* impl = m.get();
  ctx.ptr = [impl](int v) { return impl->ptr(v); };
  ctx.pool = m->pool->get();
  ctx.par = m->pool->parallel();
  ctx.xnn_flags = m->pool->xnn_flags();
  if (m->pool->oversubscribed()) {
    m->notes.push_back(
        fmt::format("{} threads on fewer CPUs: workers sleep between operators instead of spinning",
                    m->threads));
  }
  for (auto& s : m->steps) {
    s.run = s.bind(ctx);
    s.bind = nullptr;
    m->step_info.push_back(s.info);
  }
  return CompiledModel(std::move(m));
}

CompiledModel::CompiledModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CompiledModel::CompiledModel(CompiledModel&&) noexcept = default;
CompiledModel& CompiledModel::operator=(CompiledModel&&) noexcept = default;
CompiledModel::~CompiledModel() = default;

const std::string& CompiledModel::name() const {
  return impl_->name;
}
const std::vector<Step>& CompiledModel::steps() const {
  return impl_->step_info;
}
const std::vector<TensorInfo>& CompiledModel::inputs() const {
  return impl_->inputs;
}
const std::vector<TensorInfo>& CompiledModel::outputs() const {
  return impl_->outputs;
}
int CompiledModel::threads() const {
  return impl_->threads;
}
const std::vector<int>& CompiledModel::cpus() const {
  return impl_->cpus;
}
int64_t CompiledModel::arena_bytes() const {
  return impl_->arena_bytes;
}
int64_t CompiledModel::activation_bytes() const {
  return impl_->activation_bytes;
}
int64_t CompiledModel::constant_bytes() const {
  return impl_->constant_bytes;
}
std::vector<std::string> CompiledModel::notes() const {
  return impl_->notes;
}

void CompiledModel::set_input(size_t index, std::span<const float> data) {
  if (index >= impl_->inputs.size()) {
    fail("model '{}' has {} inputs, no input {}", impl_->name, impl_->inputs.size(), index);
  }
  const auto& info = impl_->inputs[index];
  const auto want = static_cast<size_t>(graph::numel(info.shape));
  if (data.size() != want) {
    fail("input '{}' {} needs {} floats ({} bytes), got {} ({} bytes)", info.name,
         graph::shape_str(info.shape), want, want * sizeof(float), data.size(),
         data.size() * sizeof(float));
  }
  float* dst = impl_->ptr(impl_->input_values[index]);
  if (const auto& map = impl_->input_maps[index]) {
    map->run(data.data(), dst, impl_->pool->parallel());
  } else {
    std::memcpy(dst, data.data(), want * sizeof(float));
  }
}

void CompiledModel::run() {
  const detail::DenormalsOff ftz;
  for (auto& s : impl_->steps) s.run();
  impl_->pool->yield_workers();
}

void CompiledModel::run_timed(std::span<double> step_ms) {
  if (step_ms.size() != impl_->steps.size()) {
    fail("run_timed needs {} slots, got {}", impl_->steps.size(), step_ms.size());
  }
  using clock = std::chrono::steady_clock;
  const detail::DenormalsOff ftz;
  auto t0 = clock::now();
  for (size_t i = 0; i < impl_->steps.size(); ++i) {
    impl_->steps[i].run();
    const auto t1 = clock::now();
    step_ms[i] = std::chrono::duration<double, std::milli>(t1 - t0).count();
    t0 = t1;
  }
  impl_->pool->yield_workers();
}

std::span<const float> CompiledModel::output(size_t index) const {
  if (index >= impl_->outputs.size()) {
    fail("model '{}' has {} outputs, no output {}", impl_->name, impl_->outputs.size(), index);
  }
  const auto n = static_cast<size_t>(graph::numel(impl_->outputs[index].shape));
  const float* src = impl_->ptr(impl_->output_values[index]);
  if (const auto& map = impl_->output_maps[index]) {
    auto& staging = impl_->output_staging[index];
    staging.resize(n);
    map->run(src, staging.data(), impl_->pool->parallel());
    return {staging.data(), n};
  }
  return {src, n};
}

Tensor CompiledModel::output_tensor(size_t index) const {
  auto s = output(index);
  return Tensor(impl_->outputs[index].shape, std::vector<float>(s.begin(), s.end()));
}

std::vector<Tensor> run_model(CompiledModel& m, const std::vector<Tensor>& inputs) {
  if (inputs.size() != m.inputs().size()) {
    fail("model '{}' has {} inputs, {} given", m.name(), m.inputs().size(), inputs.size());
  }
  for (size_t i = 0; i < inputs.size(); ++i) m.set_input(i, inputs[i].data);
  m.run();
  std::vector<Tensor> out;
  for (size_t i = 0; i < m.outputs().size(); ++i) out.push_back(m.output_tensor(i));
  return out;
}

std::vector<std::vector<std::vector<float>>> run_feeds(
    const graph::Graph& g, const std::vector<std::vector<std::vector<float>>>& feeds) {
  CompiledModel m = compile(g);
  std::vector<std::vector<std::vector<float>>> out;
  for (const auto& f : feeds) {
    if (f.size() != m.inputs().size()) {
      fail("model '{}' has {} inputs, {} given", m.name(), m.inputs().size(), f.size());
    }
    for (size_t i = 0; i < f.size(); ++i) m.set_input(i, f[i]);
    m.run();
    auto& o = out.emplace_back();
    for (size_t k = 0; k < m.outputs().size(); ++k) {
      const auto v = m.output(k);
      o.emplace_back(v.begin(), v.end());
    }
  }
  return out;
}

std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  std::set<int> seen;
  std::stringstream ss(text);
  std::string part;
  auto number = [&](const std::string& s) {
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) {
      fail("--cpus '{}': '{}' is not a CPU number", text, s);
    }
    return std::stoi(s);
  };
  while (std::getline(ss, part, ',')) {
    const auto dash = part.find('-');
    int lo = 0, hi = 0;
    if (dash == std::string::npos) {
      lo = hi = number(part);
    } else {
      lo = number(part.substr(0, dash));
      hi = number(part.substr(dash + 1));
      if (hi < lo) fail("--cpus '{}': range '{}' runs backwards", text, part);
    }
    for (int c = lo; c <= hi; ++c) {
      if (!seen.insert(c).second) fail("--cpus '{}': cpu {} is listed twice", text, c);
      cpus.push_back(c);
    }
  }
  if (cpus.empty()) fail("--cpus '{}': no CPUs listed", text);
  return cpus;
}

}  // namespace nnjoule::exec
