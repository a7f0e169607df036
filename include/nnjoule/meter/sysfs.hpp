#pragma once
// Every sysfs and procfs file nnjoule reads (and the few it writes) goes through SysFs: paths are
// written as on the device ("/sys/class/powercap") and resolved under a root that tests replace
// with a fake tree. Tests that must see a failure a root user never gets (EACCES) override
// open_fd().
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nnjoule::meter {

class SysFs;

// An attribute kept open so a sampler re-reads it with one pread (no open/close per sample).
class Attr {
 public:
  Attr(const SysFs& fs, std::string rel, int fd);
  ~Attr();
  Attr(const Attr&) = delete;
  Attr& operator=(const Attr&) = delete;
  const std::string& rel() const { return rel_; }
  // Re-reads the attribute from offset 0; throws Error naming the path on failure.
  std::string_view read();
  // The text as one integer (whitespace around it allowed); throws Error naming the path when
  // it holds anything else ("1e6", "12 mW").
  int64_t read_int();

 private:
  const SysFs& fs_;
  std::string rel_;
  int fd_;
  char buf_[128];
};

class SysFs {
 public:
  explicit SysFs(std::filesystem::path root = "/");
  virtual ~SysFs() = default;

  const std::filesystem::path& root() const { return root_; }
  // Where `rel` (written as on the device, "/sys/...") lies under the root.
  std::filesystem::path path(std::string_view rel) const;
  // What to print for `rel`: the device path, with the root in front when it is not "/".
  std::string show(std::string_view rel) const;

  // Opens for reading; returns an fd, or -errno. The one place tests inject failures.
  virtual int open_fd(const std::filesystem::path& full) const;

  bool exists(std::string_view rel) const;
  bool is_dir(std::string_view rel) const;
  // Entry names in a directory, sorted naturally (hwmon2 before hwmon10); empty when absent.
  std::vector<std::string> list(std::string_view rel) const;

  // Reads a small text file; on failure returns nullopt and sets *err to errno (if given).
  std::optional<std::string> read(std::string_view rel, int* err = nullptr) const;
  // As read(), with surrounding whitespace removed.
  std::optional<std::string> read_trimmed(std::string_view rel, int* err = nullptr) const;
  // Reads a file holding one integer (see parse_int); throws Error naming the path when it is
  // missing or holds anything else.
  int64_t read_int(std::string_view rel) const;
  // As read_int; nullopt on failure, with *err the errno, or EINVAL for malformed text.
  std::optional<int64_t> try_read_int(std::string_view rel, int* err = nullptr) const;
  // Why `rel` is not a readable integer ("<path>: Permission denied", "<path>: expected an
  // integer, got '1e6'"); empty when it is one.
  std::string int_problem(std::string_view rel) const;
  // Opens an attribute for repeated reads; throws Error naming the path and the reason.
  std::unique_ptr<Attr> open(std::string_view rel) const;
  // Writes `text` to an existing attribute (never creates one: a missing file is ENOENT, as
  // on sysfs); returns 0, or the errno of the open or write (EACCES, EINVAL from a driver).
  virtual int write(std::string_view rel, std::string_view text) const;

 private:
  std::filesystem::path root_;
};

// "a/b" + "c" with exactly one slash.
std::string join(std::string_view dir, std::string_view name);
// The whole of `text` as one integer or finite number, whitespace around it allowed; nullopt
// for anything else (nnjoule/common/parse.hpp: "1e6" is no integer, "2.5 W" no number).
std::optional<int64_t> parse_int(std::string_view text);
std::optional<double> parse_double(std::string_view text);
// A kernel CPU list ("0", "0,18", "0-3,8"): the CPUs in order; nullopt when any part is not a
// CPU number or a rising range.
std::optional<std::vector<int>> parse_cpu_list(std::string_view text);
std::string trim(std::string_view s);

}  // namespace nnjoule::meter
