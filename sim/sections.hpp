// The config sections ssmsim knows, in one place: each is a key table (the section's keys with
// defaults, ranges, units and meanings) bound to a typed struct. The sections of the command line
// itself (run, data, eval) are declared here; the others belong to the layer whose struct they
// fill (model, train: ssm_core; quantize: ssm_core's PtqOptions; precision: quant; hw: hw_models).
#pragma once

#include <cstdint>
#include <string>

#include "quant/keys.hpp"
#include "sim/config.hpp"
#include "ssm_core/qmodel.hpp"

namespace ssmsim::sim {

// run: settings of every run.
struct RunSettings {
  static constexpr const char* kSection = "run";
  uint64_t seed = 1;
  size_t threads = 0;  // 0 = all cores; results do not depend on it
  static const keys::Table<RunSettings>& keys();
};

// data: how much of the workload's data is used.
struct DataSettings {
  static constexpr const char* kSection = "data";
  size_t train_size = 0;  // 0 = the task's default
  size_t val_size = 0;    // 0 = all
  static const keys::Table<DataSettings>& keys();
};

// eval: evaluation on a test set.
struct EvalSettings {
  static constexpr const char* kSection = "eval";
  size_t limit = 0;  // the first N test sequences; 0 = all
  bool conv = false;  // float S4D: the convolution mode instead of the recurrence
  static const keys::Table<EvalSettings>& keys();
};

// quantize: post-training quantization options (the calibration's seed and threads come from run).
const keys::Table<core::PtqOptions>& quantize_keys();

// A Config holding the built-in defaults of every section.
Config make_config();

// A resolved section of the command line's own as its typed struct: settings<RunSettings>(config).
template <class S>
const S& settings(const Config& c) {
  return c.get<S>(S::kSection);
}

}  // namespace ssmsim::sim
