#include "sim/sections.hpp"

#include "hw_models/hw_config.hpp"
#include "quant/precision.hpp"
#include "ssm_core/model.hpp"
#include "ssm_core/qat.hpp"
#include "ssm_core/search.hpp"
#include "ssm_core/trainer.hpp"

namespace ssmsim::sim {

const keys::Table<RunSettings>& RunSettings::keys() {
  static const auto t = keys::Table<RunSettings>("run")
                            .integer("seed", &RunSettings::seed, 0, 2147483647, "",
                                     "seed of every random stream (data order, init, sampling)")
                            .integer("threads", &RunSettings::threads, 0, 1024, "threads",
                                     "worker threads; 0 = all cores. Results do not depend on it");
  return t;
}

const keys::Table<DataSettings>& DataSettings::keys() {
  static const auto t =
      keys::Table<DataSettings>("data")
          .integer("train_size", &DataSettings::train_size, 0, 1000000000, "sequences",
                   "training sequences used (train, qat, calibration); 0 = the task's default (sMNIST: all 55,000)")
          .integer("val_size", &DataSettings::val_size, 0, 10000, "sequences",
                   "sMNIST/psMNIST validation sequences: up to 5,000 the first N of the official "
                   "5,000; 0 = all 5,000; up to 10,000 the last N training images (needs train_size "
                   "<= 60,000 - N; 10,000 with train_size 50,000 is the S4D paper's split)");
  return t;
}

const keys::Table<EvalSettings>& EvalSettings::keys() {
  static const auto t = keys::Table<EvalSettings>("eval")
                            .integer("limit", &EvalSettings::limit, 0, 1000000000, "sequences",
                                     "evaluate the first N test sequences; 0 = all")
                            .choice("ssm_path", &EvalSettings::conv, {{"recurrent", false}, {"conv", true}},
                                    "float S4D models: the recurrence, or the convolution mode (FFT; float only)");
  return t;
}

const keys::Table<core::PtqOptions>& quantize_keys() {
  using P = core::PtqOptions;
  static const auto t =
      keys::Table<P>("quantize")
          .integer("calib", &P::calib, 1, 10000000, "sequences", "training sequences used for calibration")
          .boolean("integer_states", &P::integer_states,
                   "calibrate each layer's state on the integer model's own states (with its quantized A, B, u), "
                   "not the float's")
          .boolean("stable_a", &P::stable_a,
                   "keep every quantized |Lambda_bar| below 1 (move the larger part of A one code toward zero until "
                   "it is)")
          .choice("gelu", &P::gelu,
                  {{"precision", core::QGelu::Precision}, {"lut", core::QGelu::Lut}, {"hard", core::QGelu::Hard}},
                  "integer GELU: lut (the exact GELU tabulated over the SSM output format), hard (x*clip(x+2,0,4)/4), "
                  "or precision (what the precision config's gelu key says; lut if it says nothing)");
  return t;
}

Config make_config() {
  std::vector<SectionSpec> s;
  s.push_back(table_section("run", "settings of every run", RunSettings::keys()));
  s.push_back(table_section("data", "the workload's data", DataSettings::keys()));
  s.push_back(table_section("eval", "evaluation on a test set", EvalSettings::keys()));
  s.push_back(table_section("model", "model architecture (configs/models/*.yaml; docs/models.md)",
                            core::ModelConfig::keys()));
  s.push_back(table_section("train", "training recipe: optimiser, schedule, epochs (docs/models.md)",
                            core::TrainConfig::keys()));
  s.push_back(table_section("quantize", "post-training quantization", quantize_keys()));
  s.push_back(table_section("qat",
                            "quantization-aware training: learned step sizes, distillation (docs/quantization.md)",
                            core::QatOptions::keys()));
  s.push_back(
      table_section("search", "mixed-precision search (ssmsim search; docs/search.md)", core::SearchOptions::keys()));
  s.push_back(typed_section<quant::PrecisionConfig>(
      "precision", "precision config: bits and quantizer per model component (docs/precision.md)",
      [](const YAML::Node& n, const std::string& prefix) { return quant::PrecisionConfig::from_yaml(n, prefix); },
      [](const quant::PrecisionConfig& p) { return p.to_yaml(); }, quant::PrecisionConfig::key_docs("precision")));
  s.push_back(table_section("hw", "hardware config: units, memories, bus, clock, timing mode (configs/hw/, docs/hardware.md)",
                            hw::HwConfig::keys()));
  return Config(std::move(s));
}

}  // namespace ssmsim::sim
