#pragma once
// Fake sysfs/procfs trees for meter tests: files written under a TempDir used as the root.
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "nnjoule/meter/meter.hpp"
#include "nnjoule/meter/sysfs.hpp"
#include "support/test_support.hpp"

namespace nnjoule::testing {

class FakeTree {
 public:
  const std::filesystem::path& root() const { return dir_.path(); }
  std::filesystem::path path(const std::string& rel) const {
    return dir_.path() / std::filesystem::path(rel).relative_path();
  }
  void write(const std::string& rel, const std::string& text) const {
    const auto p = path(rel);
    std::filesystem::create_directories(p.parent_path());
    write_text(p, text);
  }
  void write(const std::string& rel, long long value) const {
    write(rel, std::to_string(value) + "\n");
  }
  void mkdir(const std::string& rel) const { std::filesystem::create_directories(path(rel)); }
  std::shared_ptr<meter::SysFs> fs() const { return std::make_shared<meter::SysFs>(root()); }

 private:
  TempDir dir_;
};

// Denies chosen files with EACCES, as a non-root user sees root-only files (works as root too).
class DenyingSysFs : public meter::SysFs {
 public:
  DenyingSysFs(std::filesystem::path root, std::set<std::string> denied_rel)
      : SysFs(std::move(root)), denied_(std::move(denied_rel)) {}
  int open_fd(const std::filesystem::path& full) const override {
    for (const auto& d : denied_)
      if (full == path(d)) return -EACCES;
    return SysFs::open_fd(full);
  }

 private:
  std::set<std::string> denied_;
};

// A meter whose domains follow functions of time: synthetic signals with known integrals.
class FunctionMeter : public meter::Meter {
 public:
  using Fn = std::function<double(double)>;
  FunctionMeter(std::string name, std::vector<meter::Domain> domains, std::vector<Fn> fns)
      : name_(std::move(name)), fns_(std::move(fns)) {
    domains_ = std::move(domains);
  }
  std::string kind() const override { return "test"; }
  std::string name() const override { return name_; }
  void read(double now_s, std::span<double> out) override {
    ++reads;
    for (size_t i = 0; i < fns_.size(); ++i) out[i] = fns_[i](now_s);
  }
  std::atomic<int> reads{0};

 private:
  std::string name_;
  std::vector<Fn> fns_;
};

}  // namespace nnjoule::testing
