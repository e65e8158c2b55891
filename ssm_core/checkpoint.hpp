// Float checkpoints and resumable training state, as safetensors files.
//
// Checkpoint: one F32 tensor per parameter under its reference name (ssm_core/model.hpp), and in
// __metadata__: "format" = "ssmsim.float", every model hyperparameter as "model.<key>" (strings,
// e.g. "model.H" = "16"), plus free-form provenance ("train.*", "data.*"). A file exported from
// PyTorch loads when it carries the same names and "model.*" keys; a JAX/flax lindermanlab S5
// export loads with flax's own names, which load_checkpoint maps (docs/safetensors.md).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ssm_core/model.hpp"
#include "ssm_core/trainer.hpp"

namespace ssmsim::core {

struct FloatCheckpoint {
  ModelConfig config;
  std::vector<float> params;  // in the model's layout order
  std::map<std::string, std::string> metadata;
};

void save_checkpoint(const std::filesystem::path& path, const Model& model,
                     const std::vector<float>& params,
                     const std::map<std::string, std::string>& extra_metadata = {});
// Errors name the file and the problem: not a float checkpoint (e.g. a quantized model), a
// missing or mis-shaped tensor, an invalid hyperparameter.
FloatCheckpoint load_checkpoint(const std::filesystem::path& path);

// Training state for --resume: parameters, optimiser moments, progress, best parameters. A run
// with more optimiser groups (QAT's recurrence and learned steps) adds them as `groups` (each
// one's params and moments under "<name>.", sizes not checked here) and its own `metadata`;
// loading returns them in the same maps (absent keys: none were saved).
void save_train_state(const std::filesystem::path& path, const Model& model, const TrainState& state,
                      const std::map<std::string, TrainState>& groups = {},
                      const std::map<std::string, std::string>& metadata = {});
TrainState load_train_state(const std::filesystem::path& path, const Model& model,
                            std::map<std::string, TrainState>* groups = nullptr,
                            std::map<std::string, std::string>* metadata = nullptr);

}  // namespace ssmsim::core
