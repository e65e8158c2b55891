#include "sim/sections.hpp"

#include "hw_models/hw_config.hpp"
#include "quant/precision.hpp"
#include "ssm_core/model.hpp"
#include "ssm_core/trainer.hpp"

namespace ssmsim::sim {

namespace {
using T = KeySpec::Type;
}  // namespace

Config make_config() {
  std::vector<SectionSpec> s;
  s.push_back({"run", "settings of every run", {
      {"seed", T::Int, "1", 0, 2147483647, {}, "seed of every random stream (data order, init, sampling)"},
      {"threads", T::Int, "0", 0, 1024, {}, "worker threads; 0 = all cores. Results do not depend on it"},
  }, {}, {}});
  s.push_back({"data", "the workload's data", {
      {"train_size", T::Int, "0", 0, 1e9, {},
       "training sequences used (train, qat, calibration); 0 = the task's default (sMNIST: all 55,000)"},
      {"val_size", T::Int, "0", 0, 5000, {}, "sMNIST/psMNIST validation sequences used (the first N); 0 = all 5,000"},
  }, {}, {}});
  s.push_back({"eval", "evaluation on a test set", {
      {"limit", T::Int, "0", 0, 1e9, {}, "evaluate the first N test sequences; 0 = all"},
      {"ssm_path", T::Enum, "recurrent", 0, 0, {"recurrent", "conv"},
       "float S4D models: the recurrence, or the convolution mode (FFT; float only)"},
  }, {}, {}});
  s.push_back({"model", "model architecture (configs/models/*.yaml; docs/models.md)", {},
               core::ModelConfig().to_yaml(),
               [](const YAML::Node& node, const std::string& prefix) {
                 return core::ModelConfig::from_yaml(node, prefix).to_yaml();
               }});
  s.push_back({"train", "training recipe: optimiser, schedule, epochs (docs/models.md)", {},
               core::TrainConfig().to_yaml(),
               [](const YAML::Node& node, const std::string& prefix) {
                 return core::TrainConfig::from_yaml(node, prefix).to_yaml();
               }});
  s.push_back({"quantize", "post-training quantization", {
      {"calib", T::Int, "256", 1, 1e7, {}, "training sequences used for calibration"},
      {"integer_states", T::Bool, "false", 0, 0, {},
       "calibrate each layer's state on the integer model's own states (with its quantized A, B, u), not the float's"},
      {"stable_a", T::Bool, "false", 0, 0, {},
       "keep every quantized |Lambda_bar| below 1 (move the larger part of A one code toward zero until it is)"},
      {"gelu", T::Enum, "lut", 0, 0, {"lut", "hard"},
       "integer GELU: lut (the exact GELU tabulated over the SSM output format) or hard (x*clip(x+2,0,4)/4)"},
  }, {}, {}});
  s.push_back({"precision", "precision config: bits and quantizer per model component (docs/precision.md)",
               {}, quant::PrecisionConfig().to_yaml(),
               [](const YAML::Node& node, const std::string& prefix) {
                 return quant::PrecisionConfig::from_yaml(node, prefix).to_yaml();
               }});
  s.push_back({"hw", "hardware config: units, memories, bus, clock, timing mode (configs/hw/, docs/hardware.md)", {},
               hw::HwConfig().to_yaml(),
               [](const YAML::Node& node, const std::string& prefix) {
                 return hw::HwConfig::from_yaml(node, prefix).to_yaml();
               }});
  return Config(std::move(s));
}

}  // namespace ssmsim::sim
