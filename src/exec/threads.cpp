// The engine's thread pool (pinned, denormals flushed), the L2 size it tiles for, and
// XNNPACK's one-time set-up and status names.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <xmmintrin.h>
#endif

#include <fmt/format.h>

#include "internal.hpp"
#include "nnjoule/common/error.hpp"

namespace nnjoule::exec::detail {

// ---- threads ----

namespace {
struct PinContext {
  std::vector<int> cpus;
  size_t n = 0;
  std::atomic<size_t> arrived{0};
  std::atomic<int> failures{0};
};

// Every task waits until all have started, so each of the n tasks runs on a different thread.
void pin_task(void* ctx, size_t i) {
  auto& c = *static_cast<PinContext*>(ctx);
  c.arrived.fetch_add(1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (c.arrived.load() < c.n) {
    if (std::chrono::steady_clock::now() > deadline) {
      c.failures.fetch_add(1);
      break;
    }
    std::this_thread::yield();
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(c.cpus[i % c.cpus.size()], &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) c.failures.fetch_add(1);
}
}  // namespace

ThreadPool::ThreadPool(int threads, const std::vector<int>& cpus) {
  if (threads < 1) fail("threads must be at least 1, got {}", threads);
  if (!cpus.empty()) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) fail("cannot read the CPU affinity");
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : cpus) {
      if (c < 0 || c >= CPU_SETSIZE || !CPU_ISSET(c, &allowed)) {
        fail("cpu {} is not available to this process ({} CPUs allowed)", c, CPU_COUNT(&allowed));
      }
      CPU_SET(c, &set);
    }
    caller_ = pthread_self();
    if (pthread_getaffinity_np(caller_, sizeof(saved_), &saved_) != 0) {
      fail("cannot read the calling thread's CPU affinity");
    }
    // Workers inherit the caller's mask when created: restrict it to the set first.
    if (pthread_setaffinity_np(caller_, sizeof(set), &set) != 0) fail("cannot set CPU affinity");
    restore_ = true;
  }
  int usable = static_cast<int>(cpus.size());
  if (cpus.empty()) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    usable = sched_getaffinity(0, sizeof(allowed), &allowed) == 0 ? CPU_COUNT(&allowed) : threads;
  }
  oversubscribed_ = threads > usable;
  if (threads > 1) {
    pool_ = pthreadpool_create(static_cast<size_t>(threads));
    if (!pool_) fail("cannot create a pool of {} threads", threads);
  }
  if (!cpus.empty()) {
    PinContext ctx;
    ctx.cpus = cpus;
    ctx.n = static_cast<size_t>(threads);
    pthreadpool_parallelize_1d(pool_, pin_task, &ctx, ctx.n, 0);
    if (ctx.failures.load() != 0) fail("could not pin each of the {} threads to one CPU", threads);
  }
}

Parallel ThreadPool::parallel() const {
  Parallel p;
  p.pool = pool_;
  if (oversubscribed_) p.flags |= PTHREADPOOL_FLAG_YIELD_WORKERS;
  return p;
}

uint32_t ThreadPool::xnn_flags() const {
  return oversubscribed_ ? XNN_FLAG_YIELD_WORKERS : 0;
}

namespace {
void no_task(void*, size_t) {}
}  // namespace

void ThreadPool::yield_workers() const {
  if (pool_) {
    pthreadpool_parallelize_1d(pool_, no_task, nullptr, pthreadpool_get_threads_count(pool_),
                               PTHREADPOOL_FLAG_YIELD_WORKERS);
  }
}

ThreadPool::~ThreadPool() {
  if (pool_) pthreadpool_destroy(pool_);
  if (restore_) pthread_setaffinity_np(caller_, sizeof(saved_), &saved_);
}

#if defined(__x86_64__) || defined(__i386__)
DenormalsOff::DenormalsOff() : saved_(_mm_getcsr()) {
  _mm_setcsr(static_cast<unsigned>(saved_) | 0x8040u);  // FTZ (bit 15) and DAZ (bit 6)
}
DenormalsOff::~DenormalsOff() {
  _mm_setcsr(static_cast<unsigned>(saved_));
}
#elif defined(__aarch64__)
DenormalsOff::DenormalsOff() {
  asm volatile("mrs %0, fpcr" : "=r"(saved_));
  const uint64_t fz = saved_ | (uint64_t{1} << 24);  // FZ: flush inputs and results
  asm volatile("msr fpcr, %0" : : "r"(fz));
}
DenormalsOff::~DenormalsOff() {
  asm volatile("msr fpcr, %0" : : "r"(saved_));
}
#else
DenormalsOff::DenormalsOff() = default;
DenormalsOff::~DenormalsOff() = default;
#endif

namespace {
int64_t l2_from_sysfs() {
  for (int i = 0; i < 8; ++i) {
    const std::string dir = fmt::format("/sys/devices/system/cpu/cpu0/cache/index{}/", i);
    std::ifstream level(dir + "level"), type(dir + "type"), size(dir + "size");
    int lv = 0;
    std::string t, sz;
    if (!(level >> lv) || !(type >> t) || !(size >> sz)) continue;
    if (lv != 2 || t == "Instruction") continue;
    int64_t v = 0;
    size_t used = 0;
    try {
      v = std::stoll(sz, &used);
    } catch (const std::exception&) {
      continue;
    }
    const std::string unit = sz.substr(used);
    if (unit == "K") v *= 1024;
    if (unit == "M") v *= 1024 * 1024;
    return v;
  }
  return 0;
}

int64_t l2_from_cpuid() {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  // AMD (and Intel since Core 2): leaf 0x80000006 ECX[31:16] is the L2 size in KiB.
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000006u &&
      __get_cpuid(0x80000006u, &a, &b, &c, &d)) {
    return static_cast<int64_t>(c >> 16) * 1024;
  }
#endif
  return 0;
}
}  // namespace

int64_t l2_cache_bytes() {
  static const int64_t bytes = [] {
    int64_t v = l2_from_sysfs();
    if (v <= 0) v = l2_from_cpuid();
    return v > 0 ? v : int64_t{256} * 1024;
  }();
  return bytes;
}

void ensure_xnnpack_initialized() {
  static std::once_flag once;
  static xnn_status status = xnn_status_success;
  std::call_once(once, [] { status = xnn_initialize(nullptr); });
  if (status != xnn_status_success) {
    fail("XNNPACK failed to initialize ({}): this CPU may lack the instructions it needs",
         xnn_status_name(status));
  }
}

const char* xnn_status_name(xnn_status s) {
  switch (s) {
    case xnn_status_success:
      return "success";
    case xnn_status_uninitialized:
      return "uninitialized";
    case xnn_status_invalid_parameter:
      return "invalid parameter";
    case xnn_status_invalid_state:
      return "invalid state";
    case xnn_status_unsupported_parameter:
      return "unsupported parameter";
    case xnn_status_unsupported_hardware:
      return "unsupported hardware";
    case xnn_status_out_of_memory:
      return "out of memory";
  }
  return "unknown status";
}

}  // namespace nnjoule::exec::detail
