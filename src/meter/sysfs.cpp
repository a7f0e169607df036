#include "nnjoule/meter/sysfs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>

#include "nnjoule/common/error.hpp"

namespace nnjoule::meter {
namespace fs = std::filesystem;

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::optional<int64_t> parse_int(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data() + i, text.data() + text.size(), v);
  if (ec != std::errc()) return std::nullopt;
  return v;
}

std::optional<double> parse_double(std::string_view text) {
  const std::string t = trim(text);
  if (t.empty()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
  return v;
}

std::string join(std::string_view dir, std::string_view name) {
  std::string s(dir);
  if (!s.empty() && s.back() == '/') s.pop_back();
  s += '/';
  s += name;
  return s;
}

Attr::Attr(const SysFs& fs, std::string rel, int fd) : fs_(fs), rel_(std::move(rel)), fd_(fd) {}

Attr::~Attr() {
  ::close(fd_);
}

std::string_view Attr::read() {
  ssize_t n = ::pread(fd_, buf_, sizeof(buf_) - 1, 0);
  if (n < 0) fail("{}: read failed ({})", fs_.show(rel_), std::strerror(errno));
  buf_[n] = 0;
  return {buf_, static_cast<size_t>(n)};
}

int64_t Attr::read_int() {
  auto v = parse_int(read());
  if (!v) fail("{}: expected an integer, got '{}'", fs_.show(rel_), trim(read()));
  return *v;
}

SysFs::SysFs(fs::path root) : root_(std::move(root)) {
  if (root_.empty()) root_ = "/";
}

fs::path SysFs::path(std::string_view rel) const {
  std::string_view r = rel;
  while (!r.empty() && r.front() == '/') r.remove_prefix(1);
  return root_ / fs::path(r);
}

std::string SysFs::show(std::string_view rel) const {
  if (root_ == "/") return std::string(rel);
  return path(rel).string();
}

int SysFs::open_fd(const fs::path& full) const {
  int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

bool SysFs::exists(std::string_view rel) const {
  std::error_code ec;
  return fs::exists(path(rel), ec);
}

bool SysFs::is_dir(std::string_view rel) const {
  std::error_code ec;
  return fs::is_directory(path(rel), ec);
}

namespace {
// hwmon2 < hwmon10, intel-rapl:0:2 < intel-rapl:0:10.
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) &&
        std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
      while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
      const std::string_view na(a.data() + i, i2 - i), nb(b.data() + j, j2 - j);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}
}  // namespace

std::vector<std::string> SysFs::list(std::string_view rel) const {
  std::vector<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(path(rel), ec), end;
  if (ec) return names;
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end(), natural_less);
  return names;
}

std::optional<std::string> SysFs::read(std::string_view rel, int* err) const {
  int fd = open_fd(path(rel));
  if (fd < 0) {
    if (err) *err = -fd;
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (err) *err = errno;
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (err) *err = 0;
  return out;
}

std::optional<std::string> SysFs::read_trimmed(std::string_view rel, int* err) const {
  auto s = read(rel, err);
  if (!s) return std::nullopt;
  return trim(*s);
}

std::optional<int64_t> SysFs::try_read_int(std::string_view rel, int* err) const {
  auto s = read(rel, err);
  if (!s) return std::nullopt;
  auto v = parse_int(*s);
  if (!v && err) *err = EINVAL;
  return v;
}

int64_t SysFs::read_int(std::string_view rel) const {
  int err = 0;
  auto s = read(rel, &err);
  if (!s) fail("{}: cannot read ({})", show(rel), std::strerror(err));
  auto v = parse_int(*s);
  if (!v) fail("{}: expected an integer, got '{}'", show(rel), trim(*s));
  return *v;
}

std::unique_ptr<Attr> SysFs::open(std::string_view rel) const {
  int fd = open_fd(path(rel));
  if (fd < 0) fail("{}: cannot open ({})", show(rel), std::strerror(-fd));
  return std::make_unique<Attr>(*this, std::string(rel), fd);
}

}  // namespace nnjoule::meter
