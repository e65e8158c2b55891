// `ssmsim sweep`: a design-space exploration over precision configs, hardware configs and the
// quantization method (docs/sweeps.md). A spec (configs/sweeps/*.yaml) is read and validated whole
// before any work; its points are expanded in a fixed order, each with a stable id derived from
// its settings. Each point runs as child processes of this same binary (the SystemC kernel
// elaborates once per process): quantize or qat (one model per precision and method, shared by
// the hardware points), eval (one accuracy per model), simulate (cost and bit_exact per point).
// Each result is appended whole, as one JSON line and one CSV row, as soon as it is known.
#pragma once

#include <spawn.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ssmsim::sim {

struct PrecisionVariant {
  std::string label;                    // e.g. "w8a8_state8", "all16 A=4"
  std::filesystem::path file;
  std::map<std::string, int> overrides;  // component -> bits
  std::filesystem::path model{};        // a quantized model given as it is (method "given")
};

struct HwVariant {
  std::string label;                    // e.g. "edge_minimal", "edge_minimal cmac_lanes=8"
  std::filesystem::path file;
  std::map<std::string, std::string> overrides;  // hw key -> value
};

struct SweepSpec {
  std::string name, description;
  std::filesystem::path checkpoint;
  std::string workload;
  size_t eval_limit = 0;      // accuracy on the first N test sequences (0: all)
  size_t simulate_limit = 2;  // sequences the accelerator runs per point
  size_t calib = 256;
  size_t qat_epochs = 1;
  size_t qat_train_size = 0;  // training sequences of QAT points (data.train_size; 0: all)
  size_t qat_val_size = 0;    // their validation sequences (data.val_size; 0: all)
  std::map<std::string, std::string> qat_set;  // train.* keys for QAT points
  std::vector<PrecisionVariant> precisions;
  std::vector<HwVariant> hws;
  std::vector<std::string> methods;  // ptq, qat (a given model's points have the method "given")
  std::string text;                  // the spec as given

  // Reads and validates a spec: unknown keys, empty lists or grids, missing files, unknown
  // components or methods are InputError / ConfigError naming the key.
  static SweepSpec load(const std::filesystem::path& path);
};

struct SweepPoint {
  std::string id;     // "p" + 12 hex digits of the SHA-256 of the point's settings
  size_t index = 0;   // position in the expansion order
  const PrecisionVariant* precision = nullptr;
  const HwVariant* hw = nullptr;
  std::string method;
  std::string model_key;  // the model this point evaluates (shared by hardware points)
  std::string label() const;
};

// Every point of the spec, in order: precision, then hardware, then method, innermost last.
std::vector<SweepPoint> expand(const SweepSpec& spec);

struct SweepOptions {
  std::filesystem::path out_dir;
  size_t jobs = 1;
  bool resume = false;
  size_t shard = 0, shards = 1;    // run the points with index % shards == shard
  size_t threads = 0;              // cores to share among the jobs (0: all)
  std::filesystem::path binary;    // the ssmsim executable to run the points with
  std::function<void(const std::string&)> progress;
};

struct SweepSummary {
  size_t total = 0, run = 0, resumed = 0;
  std::filesystem::path results;  // the folder holding results.jsonl
};

SweepSummary run_sweep(const SweepSpec& spec, const SweepOptions& options);

// Child processes (the points' commands, sbatch). A word single-quoted for the shell, always.
std::string shell_quoted(const std::string& word);
// Starts args (args[0] a path, or a name looked up on PATH) with stdout and stderr going where
// `setup` points them (posix_spawn file actions); returns its pid, or throws `error(errno text)`.
using SpawnSetup = std::function<void(posix_spawn_file_actions_t&)>;
pid_t spawn_child(const std::vector<std::string>& args, const SpawnSetup& setup,
                  const std::function<std::exception_ptr(const std::string& why)>& error);
// Waits for the child; its exit status, or 128 + the signal that ended it.
int wait_child(pid_t pid);
// Runs `args` (args[0] is the binary) with stdout and stderr appended to `log` and waits; its exit
// status. A child that cannot start is RunError("<who>: cannot start ...").
int run_child(const std::vector<std::string>& args, const std::filesystem::path& log, const std::string& who);

}  // namespace ssmsim::sim
