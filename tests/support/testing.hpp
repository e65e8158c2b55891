// Helpers shared by the test tiers: seeded random streams, scratch folders, running the CLI.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace ssmsim::testing {

// A random stream seeded from a fixed seed and the test's own name, so each test has its own
// reproducible stimulus and a failure can be replayed alone.
std::mt19937_64 seeded_rng(const std::string& salt = "");

// A fresh, empty folder for one test under the temporary directory, in a root per user and build
// tree (ssmsim-test-<uid>-<build hash>); removed at the next call with the same name, kept after a
// failure for inspection.
std::filesystem::path scratch_dir(const std::string& name);

struct CliResult {
  int exit_code = -1;
  std::string out;  // standard output
  std::string err;  // standard error
};

// Runs build/bin/ssmsim with the arguments (no shell), from `cwd` when given.
CliResult run_cli(const std::vector<std::string>& args, const std::filesystem::path& cwd = {});

// Runs the program args[0] (a path) with the others as its arguments, as run_cli does.
CliResult run_program(const std::vector<std::string>& args, const std::filesystem::path& cwd = {});

// The repository root, for configs/ and workloads/ files.
std::filesystem::path source_dir();

// Whether the MNIST cache is there ($SSMSIM_DATA, else <repo>/data), for the tests that need it.
bool have_mnist();

// How many times `what` occurs in `text` (overlapping occurrences counted).
size_t count_of(const std::string& text, const std::string& what);

// A whole text file ("" when it cannot be read).
std::string read_text(const std::filesystem::path& path);

}  // namespace ssmsim::testing

// In a test body (gtest): without the MNIST cache, skip the test, or fail it under make test
// (SSMSIM_REQUIRE_DATA set).
#define SSMSIM_REQUIRE_MNIST()                                                                 \
  if (!::ssmsim::testing::have_mnist()) {                                                      \
    if (std::getenv("SSMSIM_REQUIRE_DATA")) FAIL() << "MNIST is missing: run `make data`";     \
    GTEST_SKIP() << "MNIST is missing: run `make data`";                                       \
  }
