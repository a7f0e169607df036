#include "support/test_support.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

#include "nnjoule/common/error.hpp"

namespace nnjoule::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "nnjoule-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

void exec_cli(const std::vector<std::string>& args) {
  // Under emulation (a cross build's tests run by qemu-user) an exec of the CLI would reach the
  // host kernel, which cannot run a foreign binary: NNJOULE_TEST_EMULATOR ("qemu-aarch64 -L
  // SYSROOT") is put in front of it.
  std::vector<std::string> words;
  if (const char* emu = std::getenv("NNJOULE_TEST_EMULATOR")) {
    std::istringstream in(emu);
    for (std::string w; in >> w;) words.push_back(w);
  }
  words.push_back(NNJOULE_CLI);
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  _exit(127);
}

CliResult run_cli(const std::vector<std::string>& args) {
  TempDir tmp;
  const fs::path out = tmp / "out", err = tmp / "err";
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int fo = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fo, 1);
    dup2(fe, 2);
    exec_cli(args);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

bool one_error_line(const CliResult& r, const std::string& part) {
  return r.exit_code == 1 && r.err.rfind("nnjoule: error: ", 0) == 0 &&
         r.err.find(part) != std::string::npos && r.err.find('\n') == r.err.size() - 1;
}

fs::path shared_data() {
  if (const char* env = std::getenv("NNJOULE_TEST_DATA")) return env;
  fs::path p = NNJOULE_TEST_DATA;
  std::error_code ec;
  return fs::is_directory(p, ec) ? fs::canonical(p) : fs::path{};
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream o(path, std::ios::binary);
  o << text;
}

std::string read_text(const fs::path& path) {
  return slurp(path);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an nnjoule::Error, none was thrown";
  return "(no error)";
}

}  // namespace nnjoule::testing
