// The fuzz targets' entry functions (fuzz/entries.hpp).
#include "fuzz/entries.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>

#include "hw_models/hw_config.hpp"
#include "reports/report_load.hpp"
#include "sim/config.hpp"
#include "sim/sections.hpp"
#include "sim/sweep.hpp"
#include "sim/vectors.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/qmodel.hpp"
#include "ssm_core/safetensors.hpp"
#include "workloads/dataset.hpp"
#include "workloads/mnist.hpp"

namespace ssmsim::fuzz {
namespace fs = std::filesystem;

namespace {

// One scratch folder per process (several fuzzers and ctest's parallel tests run at once).
const fs::path& scratch() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("ssmsim-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    fs::current_path(source_dir());
    return d;
  }();
  return dir;
}

void write_file(const fs::path& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!f) throw std::runtime_error("fuzz: cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The bytes as a file named `name` in the scratch folder.
fs::path as_file(const std::string& name, const std::uint8_t* data, std::size_t size) {
  const fs::path p = scratch() / name;
  write_file(p, data, size);
  return p;
}

void safetensors_entry(const std::uint8_t* d, std::size_t n) {
  refused_or_read([&] { core::parse_safetensors(d, n, "fuzz.safetensors"); });
}

void checkpoint_entry(const std::uint8_t* d, std::size_t n) {
  const fs::path p = as_file("checkpoint.safetensors", d, n);
  refused_or_read([&] { core::load_checkpoint(p); });
}

void qmodel_entry(const std::uint8_t* d, std::size_t n) {
  const fs::path p = as_file("qmodel.safetensors", d, n);
  refused_or_read([&] { core::load_qmodel(p); });
}

// A config file as the command line reads it (sim/cli.cpp): a section file (--precision, --hw) or
// a whole config (--model, --config), then resolved into the typed sections.
void config_entry(const char* section, const std::uint8_t* d, std::size_t n) {
  const fs::path p = as_file(std::string(section) + ".yaml", d, n);
  refused_or_read([&] {
    sim::Config cfg = sim::make_config();
    if (std::string(section) == "model") cfg.merge_file(p);
    else cfg.load_section(section, p);
    cfg.resolve();
  });
}
void precision_entry(const std::uint8_t* d, std::size_t n) { config_entry("precision", d, n); }
void hw_entry(const std::uint8_t* d, std::size_t n) { config_entry("hw", d, n); }
void model_entry(const std::uint8_t* d, std::size_t n) { config_entry("model", d, n); }

void sweep_entry(const std::uint8_t* d, std::size_t n) {
  const fs::path p = as_file("sweep.yaml", d, n);
  refused_or_read([&] { sim::SweepSpec::load(p); });
}

// Images or labels by the input's length, so both magic numbers are reachable.
void mnist_idx_entry(const std::uint8_t* d, std::size_t n) {
  const fs::path p = as_file("idx-ubyte", d, n);
  workloads::IdxExpect expect;
  expect.magic = n % 2 ? workloads::kIdxMagicVector : workloads::kIdxMagicImages;
  refused_or_read([&] { workloads::read_idx(p, expect); });
}

void results_entry(const std::uint8_t* d, std::size_t n) {
  const fs::path dir = scratch() / "results";
  fs::create_directories(dir);
  write_file(dir / "results.jsonl", d, n);
  refused_or_read([&] { reports::load_results({dir}); });
}

// The vectors fixture (fuzz/fixtures: a quantized S4D model of the sines task, the vectors of its
// test sequence 1, steps 0 to 2, on edge_minimal), copied once into the scratch folder.
struct VectorsFixture {
  core::QModel model;
  hw::HwConfig hw;
  core::SequenceSet test;
  fs::path dir;
  std::vector<std::string> files;  // the hex files, by name
  std::map<std::string, std::string> original;
};

VectorsFixture& vectors_fixture() {
  static VectorsFixture fx = [] {
    VectorsFixture f;
    const fs::path src = source_dir() / "fuzz/fixtures";
    f.model = core::load_qmodel(src / "sines_s4d_w8a8.safetensors");
    f.hw = hw::HwConfig::from_yaml(sim::load_yaml_file(source_dir() / "configs/hw/edge_minimal.yaml"));
    f.test = workloads::load_workload("sines").test;
    f.dir = scratch() / "vectors";
    fs::create_directories(f.dir);
    for (const auto& e : fs::directory_iterator(src / "vectors")) {
      const std::string name = e.path().filename().string();
      f.original[name] = read_file(e.path());
      if (e.path().extension() == ".hex") f.files.push_back(name);
    }
    std::sort(f.files.begin(), f.files.end());
    return f;
  }();
  // every input starts from the fixture as exported
  for (const auto& [name, text] : fx.original) {
    std::ofstream o(fx.dir / name, std::ios::binary | std::ios::trunc);
    o << text;
  }
  return fx;
}

void check(const VectorsFixture& fx) {
  refused_or_read([&] { sim::check_vectors(fx.dir, fx.model, fx.hw, fx.test); });
}

void vectors_manifest_entry(const std::uint8_t* d, std::size_t n) {
  VectorsFixture& fx = vectors_fixture();
  write_file(fx.dir / "manifest.json", d, n);
  check(fx);
}

// The first byte picks the hex file, the rest is its content.
void vectors_hex_entry(const std::uint8_t* d, std::size_t n) {
  if (n == 0) return;
  VectorsFixture& fx = vectors_fixture();
  write_file(fx.dir / fx.files[d[0] % fx.files.size()], d + 1, n - 1);
  check(fx);
}

}  // namespace

fs::path source_dir() { return SSMSIM_SOURCE_DIR; }

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"safetensors", safetensors_entry}, {"checkpoint", checkpoint_entry},
      {"qmodel", qmodel_entry},           {"precision", precision_entry},
      {"hw", hw_entry},                   {"model", model_entry},
      {"sweep", sweep_entry},             {"mnist_idx", mnist_idx_entry},
      {"results", results_entry},         {"vectors_manifest", vectors_manifest_entry},
      {"vectors_hex", vectors_hex_entry},
  };
  return all;
}

const Target& target(const std::string& name) {
  for (const Target& t : targets())
    if (t.name == name) return t;
  throw std::invalid_argument("fuzz: no target '" + name + "'");
}

}  // namespace ssmsim::fuzz
