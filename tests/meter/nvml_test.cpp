#include <gtest/gtest.h>

#include "nnjoule/meter/meters.hpp"
#include "nnjoule/meter/sampler.hpp"

using namespace nnjoule;
using namespace nnjoule::meter;

namespace {

// A fake NVML: plain functions over global state, as the real one is a C library.
struct FakeGpu {
  std::string name;
  bool energy, power;
  unsigned long long mj = 0;
  unsigned int mw = 0;
};
std::vector<FakeGpu> g_gpus;
int g_inits = 0, g_shutdowns = 0, g_init_rc = 0;

int f_init() {
  ++g_inits;
  return g_init_rc;
}
int f_shutdown() {
  ++g_shutdowns;
  return 0;
}
int f_count(unsigned int* n) {
  *n = static_cast<unsigned int>(g_gpus.size());
  return 0;
}
int f_handle(unsigned int i, NvmlApi::Device* d) {
  if (i >= g_gpus.size()) return 2;
  *d = &g_gpus[i];
  return 0;
}
int f_name(NvmlApi::Device d, char* out, unsigned int len) {
  snprintf(out, len, "%s", static_cast<FakeGpu*>(d)->name.c_str());
  return 0;
}
int f_energy(NvmlApi::Device d, unsigned long long* mj) {
  auto* g = static_cast<FakeGpu*>(d);
  if (!g->energy) return 3;  // NVML_ERROR_NOT_SUPPORTED
  *mj = g->mj;
  return 0;
}
int f_power(NvmlApi::Device d, unsigned int* mw) {
  auto* g = static_cast<FakeGpu*>(d);
  if (!g->power) return 3;
  *mw = g->mw;
  return 0;
}
const char* f_error(int rc) {
  return rc == 3 ? "Not Supported" : "Unknown Error";
}

NvmlLoader fake_loader() {
  return [](std::string*) {
    auto api = std::make_shared<NvmlApi>();
    api->init = f_init;
    api->shutdown = f_shutdown;
    api->device_count = f_count;
    api->handle_by_index = f_handle;
    api->name = f_name;
    api->total_energy = f_energy;
    api->power_usage = f_power;
    api->error_string = f_error;
    return api;
  };
}

class Nvml : public ::testing::Test {
 protected:
  void SetUp() override {
    g_gpus.clear();
    g_inits = g_shutdowns = g_init_rc = 0;
  }
};

}  // namespace

TEST_F(Nvml, CounterWherePresentElsePowerEachGpuSeparately) {
  g_gpus = {{"NVIDIA H100 80GB HBM3", true, true, 1000000, 70000},
            {"Tesla T4", false, true, 0, 30000},
            {"Old GPU", false, false}};
  auto found = find_nvml(fake_loader());
  ASSERT_EQ(found.size(), 1u);
  auto& f = found[0];
  ASSERT_EQ(f.status, Finding::Status::kFound) << f.reason;
  EXPECT_NE(f.reason.find("gpu2 (Old GPU): neither energy nor power supported: Not Supported"),
            std::string::npos)
      << f.reason;
  const auto& d = f.meter->domains();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].name, "gpu0");
  EXPECT_EQ(d[0].signal, Signal::kEnergy);
  EXPECT_TRUE(d[0].in_total);
  EXPECT_EQ(d[1].name, "gpu0:power");  // cross-check, never added to the total
  EXPECT_EQ(d[1].signal, Signal::kPower);
  EXPECT_FALSE(d[1].in_total);
  EXPECT_EQ(d[2].name, "gpu1");
  EXPECT_EQ(d[2].signal, Signal::kPower);

  // 2 s: gpu0's counter gains 140 J at a steady 70 W; gpu1 ramps 30 W -> 50 W.
  ManualClock clock;
  auto s_owner = std::make_unique<Sampler>(std::vector<std::shared_ptr<Meter>>{f.meter}, clock);
  Sampler& s = *s_owner;
  s.begin_window("w", 0);
  for (int k = 1; k <= 20; ++k) {
    g_gpus[0].mj = 1000000 + 7000 * k;
    g_gpus[1].mw = 30000 + 1000 * k;
    s.step(k * 0.1);
  }
  auto w = s.end_window("w", 2.0);
  const auto& m = w.meter("nvml");
  EXPECT_NEAR(m.domains[0].energy_mj, 140000, 1e-6);
  EXPECT_NEAR(m.domains[1].energy_mj, 140000, 1e-6);  // counter and integrated power agree
  EXPECT_NEAR(m.domains[2].energy_mj, 80000, 1e-6);   // trapezoid of 30 -> 50 W over 2 s
  EXPECT_NEAR(m.energy_mj, 220000, 1e-6);
  s_owner.reset();
  f.meter.reset();
  EXPECT_EQ(g_shutdowns, 1);
}

TEST_F(Nvml, LibraryMissingIsNotFoundWithTheLoaderMessage) {
  auto f = find_nvml([](std::string* why) -> std::shared_ptr<NvmlApi> {
    *why = "libnvidia-ml.so.1: cannot open shared object file: No such file or directory";
    return nullptr;
  });
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].status, Finding::Status::kNotFound);
  EXPECT_NE(f[0].reason.find("cannot open shared object file"), std::string::npos);
}

TEST_F(Nvml, InitFailureRefuses) {
  g_init_rc = 9;
  g_gpus = {{"X", true, true}};
  auto f = find_nvml(fake_loader());
  EXPECT_EQ(f[0].status, Finding::Status::kRefused);
  EXPECT_NE(f[0].reason.find("nvmlInit_v2 failed: Unknown Error (NVML error 9)"), std::string::npos)
      << f[0].reason;
}

TEST_F(Nvml, NoSupportedGpuRefusesAndShutsDown) {
  g_gpus = {{"Old GPU", false, false}};
  auto f = find_nvml(fake_loader());
  EXPECT_EQ(f[0].status, Finding::Status::kRefused);
  EXPECT_EQ(g_shutdowns, 1);
}

TEST_F(Nvml, RealLoaderFailsCleanlyWithoutADriver) {
  std::string why;
  auto api = load_nvml(&why);
  if (api) GTEST_SKIP() << "an NVIDIA driver is installed here";
  EXPECT_FALSE(why.empty());
}
