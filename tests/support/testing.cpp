#include "tests/support/testing.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>

namespace ssmsim::testing {

namespace {
// FNV-1a: a stable hash (std::hash is not guaranteed stable across library versions)
uint64_t fnv1a(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}
}  // namespace

std::mt19937_64 seeded_rng(const std::string& salt) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = salt;
  if (info) name += std::string(info->test_suite_name()) + "." + info->name();
  return std::mt19937_64(0x55AA2025u ^ fnv1a(name));
}

std::filesystem::path scratch_dir(const std::string& name) {
  // One root per user and build tree: the tests of one run share what they cache there (a trained
  // model), while two checkouts testing at once on one machine stay apart.
  const std::string root =
      "ssmsim-test-" + std::to_string(::getuid()) + "-" + std::to_string(fnv1a(SSMSIM_BIN) % 1000000007);
  const auto dir = std::filesystem::temp_directory_path() / root / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::filesystem::path source_dir() { return SSMSIM_SOURCE_DIR; }

bool have_mnist() {
  const char* dir = std::getenv("SSMSIM_DATA");
  const auto base = dir ? std::filesystem::path(dir) : source_dir() / "data";
  return std::filesystem::exists(base / "mnist" / "t10k-images-idx3-ubyte") ||
         std::filesystem::exists(base / "t10k-images-idx3-ubyte");
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream f(path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

namespace {
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

CliResult run_cli(const std::vector<std::string>& args, const std::filesystem::path& cwd) {
  std::vector<std::string> argv{SSMSIM_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, cwd);
}

CliResult run_program(const std::vector<std::string>& args, const std::filesystem::path& cwd) {
  // A fresh folder for the child's output, unique even across PID namespaces that share /tmp
  // (a name made of the PID is not: another sandbox's process with the same PID removed it).
  std::string tmpl = (std::filesystem::temp_directory_path() / "ssmsim-cli-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error(std::string("mkdtemp failed: ") + std::strerror(errno));
  const std::filesystem::path dir = tmpl;
  const auto out_path = dir / "stdout", err_path = dir / "stderr", why_path = dir / "why";

  std::vector<std::string> argv_store = args;
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);

  const std::string exec_step = "exec of " + argv_store.at(0);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    // a child that cannot start says why in `why` (the parent adds it to the result's err)
    const auto fail = [&](const char* step) {
      const int e = errno;
      const int fd = ::open(why_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        const std::string msg = std::string("run_cli: ") + step + " failed: " + std::strerror(e) + "\n";
        if (::write(fd, msg.data(), msg.size()) < 0) {
        }
        ::close(fd);
      }
      ::_exit(127);
    };
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) fail("chdir to the working folder");
    if (!std::freopen(out_path.c_str(), "w", stdout)) fail("redirecting stdout");
    if (!std::freopen(err_path.c_str(), "w", stderr)) fail("redirecting stderr");
    if (!std::freopen("/dev/null", "r", stdin)) fail("redirecting stdin");
    ::execv(argv[0], argv.data());
    fail(exec_step.c_str());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out_path);
  r.err = slurp(err_path) + slurp(why_path);
  std::filesystem::remove_all(dir);
  return r;
}

}  // namespace ssmsim::testing
