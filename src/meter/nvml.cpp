// NVIDIA GPUs through NVML, loaded with dlopen so nnjoule builds and runs without the driver.
#include <dlfcn.h>

#include "nnjoule/common/error.hpp"
#include "nnjoule/meter/meters.hpp"

namespace nnjoule::meter {
namespace {

constexpr int kNvmlSuccess = 0;

std::string nvml_error(const NvmlApi& api, int rc) {
  if (api.error_string) {
    if (const char* s = api.error_string(rc)) return fmt::format("{} (NVML error {})", s, rc);
  }
  return fmt::format("NVML error {}", rc);
}

class NvmlMeter : public Meter {
 public:
  struct Source {
    NvmlApi::Device device;
    bool counter;  // nvmlDeviceGetTotalEnergyConsumption, else nvmlDeviceGetPowerUsage
  };
  NvmlMeter(std::shared_ptr<NvmlApi> api, std::vector<Source> sources, std::vector<Domain> domains)
      : api_(std::move(api)), sources_(std::move(sources)) {
    domains_ = std::move(domains);
  }
  ~NvmlMeter() override { api_->shutdown(); }
  std::string kind() const override { return "nvml"; }
  void read(double, std::span<double> out) override {
    for (size_t i = 0; i < sources_.size(); ++i) {
      const auto& s = sources_[i];
      if (s.counter) {
        unsigned long long mj = 0;
        const int rc = api_->total_energy(s.device, &mj);
        if (rc != kNvmlSuccess)
          fail("nvml: {}: nvmlDeviceGetTotalEnergyConsumption failed: {}", domains_[i].name,
               nvml_error(*api_, rc));
        out[i] = static_cast<double>(mj);
      } else {
        unsigned int mw = 0;
        const int rc = api_->power_usage(s.device, &mw);
        if (rc != kNvmlSuccess)
          fail("nvml: {}: nvmlDeviceGetPowerUsage failed: {}", domains_[i].name,
               nvml_error(*api_, rc));
        out[i] = static_cast<double>(mw);
      }
    }
  }

 private:
  std::shared_ptr<NvmlApi> api_;
  std::vector<Source> sources_;
};

template <typename F>
bool bind(void* lib, const char* symbol, F& fn, std::string* why) {
  fn = reinterpret_cast<F>(dlsym(lib, symbol));
  if (!fn && why) *why = fmt::format("libnvidia-ml.so.1 has no {} (driver too old)", symbol);
  return fn != nullptr;
}

}  // namespace

std::shared_ptr<NvmlApi> load_nvml(std::string* why) {
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    if (why) {
      const char* e = dlerror();
      *why = e ? e : "libnvidia-ml.so.1: cannot load";
    }
    return nullptr;
  }
  auto api = std::make_shared<NvmlApi>();
  api->library = std::shared_ptr<void>(lib, [](void* h) { dlclose(h); });
  if (!bind(lib, "nvmlInit_v2", api->init, why) || !bind(lib, "nvmlShutdown", api->shutdown, why) ||
      !bind(lib, "nvmlDeviceGetCount_v2", api->device_count, why) ||
      !bind(lib, "nvmlDeviceGetHandleByIndex_v2", api->handle_by_index, why) ||
      !bind(lib, "nvmlDeviceGetName", api->name, why) ||
      !bind(lib, "nvmlDeviceGetTotalEnergyConsumption", api->total_energy, why) ||
      !bind(lib, "nvmlDeviceGetPowerUsage", api->power_usage, why))
    return nullptr;
  bind(lib, "nvmlErrorString", api->error_string, nullptr);
  return api;
}

std::vector<Finding> find_nvml(const NvmlLoader& loader) {
  Finding f;
  f.kind = f.name = "nvml";
  std::string why;
  std::shared_ptr<NvmlApi> api = loader ? loader(&why) : nullptr;
  if (!api) {
    f.reason = fmt::format("NVML not loadable ({}): no NVIDIA driver", why.empty() ? "?" : why);
    return {f};
  }
  int rc = api->init();
  if (rc != kNvmlSuccess) {
    f.status = Finding::Status::kRefused;
    f.reason = "nvmlInit_v2 failed: " + nvml_error(*api, rc);
    return {f};
  }
  unsigned int count = 0;
  rc = api->device_count(&count);
  if (rc != kNvmlSuccess || count == 0) {
    api->shutdown();
    f.reason = rc != kNvmlSuccess ? "nvmlDeviceGetCount_v2 failed: " + nvml_error(*api, rc)
                                  : std::string("NVML reports no GPU");
    return {f};
  }
  std::vector<NvmlMeter::Source> sources;
  std::vector<Domain> domains;
  std::vector<std::string> skipped;
  for (unsigned int i = 0; i < count; ++i) {
    NvmlApi::Device dev = nullptr;
    rc = api->handle_by_index(i, &dev);
    if (rc != kNvmlSuccess) {
      skipped.push_back(fmt::format("gpu{}: no handle ({})", i, nvml_error(*api, rc)));
      continue;
    }
    char name[96] = {0};
    if (api->name(dev, name, sizeof(name)) != kNvmlSuccess) name[0] = 0;
    const std::string gpu = fmt::format("gpu{}", i);
    const std::string model = name[0] ? std::string(name) : std::string("unnamed GPU");
    unsigned long long mj = 0;
    unsigned int mw = 0;
    const bool counter = api->total_energy(dev, &mj) == kNvmlSuccess;
    const int prc = api->power_usage(dev, &mw);
    if (counter) {
      sources.push_back({dev, true});
      domains.push_back({gpu, Signal::kEnergy, 0, true, model + ": energy counter"});
      if (prc == kNvmlSuccess) {
        // The same GPU's power, polled and integrated, beside the counter as a cross-check.
        sources.push_back({dev, false});
        domains.push_back({gpu + ":power", Signal::kPower, 0, false,
                           "cross-check of " + gpu + ": power integrated"});
      }
    } else if (prc == kNvmlSuccess) {
      sources.push_back({dev, false});
      domains.push_back({gpu, Signal::kPower, 0, true, model + ": power polled and integrated"});
    } else {
      skipped.push_back(fmt::format("{} ({}): neither energy nor power supported: {}", gpu, model,
                                    nvml_error(*api, prc)));
    }
  }
  if (domains.empty()) {
    api->shutdown();
    f.status = Finding::Status::kRefused;
    f.reason = skipped.empty() ? "no GPU readable" : skipped.front();
    for (size_t i = 1; i < skipped.size(); ++i) f.reason += "; " + skipped[i];
    return {f};
  }
  f.status = Finding::Status::kFound;
  for (const auto& s : skipped) f.reason += (f.reason.empty() ? "" : "; ") + s;
  f.meter = std::make_shared<NvmlMeter>(api, std::move(sources), std::move(domains));
  return {f};
}

}  // namespace nnjoule::meter
