#pragma once
// Helpers shared by every test binary: temporary directories, running the CLI, shared data.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace nnjoule::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// In a forked child: replaces it with the built nnjoule binary (behind NNJOULE_TEST_EMULATOR
// when set); exits 127 when the exec fails.
[[noreturn]] void exec_cli(const std::vector<std::string>& args);
// Runs the built nnjoule binary with the given arguments (no shell quoting needed).
CliResult run_cli(const std::vector<std::string>& args);
// Exit status 1 and one stderr line "nnjoule: error: ..." containing `part`:
// what every bad input must produce.
bool one_error_line(const CliResult& r, const std::string& part);

// `part` occurs in `s` (for EXPECT_TRUE(contains(err, "...")) << err).
inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The message of the nnjoule::Error that `f` throws; a test failure and "(no error)" when it
// throws none.
std::string error_of(const std::function<void()>& f);

// ../shared/data as configured at build time; empty when absent on this machine.
std::filesystem::path shared_data();
void write_text(const std::filesystem::path& path, const std::string& text);
std::string read_text(const std::filesystem::path& path);

}  // namespace nnjoule::testing
