#include "nnjoule/meter/sysfs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/parse.hpp"

namespace nnjoule::meter {
namespace fs = std::filesystem;

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::optional<int64_t> parse_int(std::string_view text) {
  return parse_integer(text);
}

std::optional<double> parse_double(std::string_view text) {
  return parse_number(text);
}

std::optional<std::vector<int>> parse_cpu_list(std::string_view text) {
  // CPU numbers past this are no machine's (the kernel's NR_CPUS tops out at 8192): a bound
  // that keeps "0-4000000000" from filling memory.
  constexpr int64_t kMaxCpu = 65535;
  std::vector<int> cpus;
  const std::string t = trim(text);
  if (t.empty()) return std::nullopt;
  size_t pos = 0;
  while (pos <= t.size()) {
    size_t comma = t.find(',', pos);
    if (comma == std::string::npos) comma = t.size();
    const std::string_view part = std::string_view(t).substr(pos, comma - pos);
    const size_t dash = part.find('-');
    const auto a = parse_integer(part.substr(0, dash));
    const auto b = dash == std::string::npos ? a : parse_integer(part.substr(dash + 1));
    if (!a || !b || *a < 0 || *b < *a || *b > kMaxCpu) return std::nullopt;
    for (int64_t c = *a; c <= *b; ++c) cpus.push_back(static_cast<int>(c));
    pos = comma + 1;
  }
  return cpus;
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
  return integer_field(read(), fs_.show(rel_));
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
  return integer_field(*s, show(rel));
}

std::string SysFs::int_problem(std::string_view rel) const {
  int err = 0;
  auto s = read(rel, &err);
  if (!s) return fmt::format("{}: {}", show(rel), std::strerror(err));
  if (parse_integer(*s)) return {};
  return fmt::format("{}: expected an integer, got '{}'", show(rel), quoted_field(*s));
}

std::unique_ptr<Attr> SysFs::open(std::string_view rel) const {
  int fd = open_fd(path(rel));
  if (fd < 0) fail("{}: cannot open ({})", show(rel), std::strerror(-fd));
  return std::make_unique<Attr>(*this, std::string(rel), fd);
}

int SysFs::write(std::string_view rel, std::string_view text) const {
  // O_TRUNC matters only for a fake tree's regular files; sysfs attributes ignore it.
  const int fd = ::open(path(rel).c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = 0;
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  return err;
}

}  // namespace nnjoule::meter
