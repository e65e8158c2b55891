// Quantization-aware training whose forward pass IS the integer C-model.
//
// Every optimiser step quantizes the float master weights (quantize_weights, activation and state
// formats fixed by the PTQ calibration at the start), runs the batch through QEngine with its
// codes recorded, and back-propagates the float model's backward pass (Model::backward) through
// the dequantized codes: the straight-through estimator at every quantization point, the state
// quantized in the loop. The loss is computed on the integer logits, so the training forward pass
// and `ssmsim eval` on the saved model give the same integers by construction (tested).
//
// Recurrent-matrix parameterisation: the continuous parameters (S4D log_dt, A; S5 Lambda,
// log_step, B_tilde) are learned and discretized every pass (the S4D paper's "continuous" variant). Dropout is off during QAT;
// BatchNorm runs on its running statistics (frozen) and is folded as in PTQ.
#pragma once

#include <filesystem>
#include <functional>

#include "ssm_core/layers.hpp"
#include "ssm_core/qat_lsq.hpp"
#include "ssm_core/qmodel.hpp"
#include "ssm_core/trainer.hpp"

namespace ssmsim::core {

// The `qat` section: what QAT learns beyond the weights.
//   learn_scales: components whose activation / state points learn their step size (LSQ,
//                 ssm_core/qat_lsq.hpp); empty: every point keeps its PTQ format (the default).
//   scale_lr:     the peak learning rate of the learned steps (AdamW on s / s_PTQ, no weight
//                 decay, the run's schedule).
//   learn_zero_points: the asymmetric points among learn_scales' also learn their zero point
//                 (LSQ+: the real offset lo = -zp s learned with the step, same rate).
struct QatOptions {
  std::vector<quant::Component> learn_scales;
  double scale_lr = 0.001;
  bool learn_zero_points = false;
  // Knowledge distillation from the float checkpoint QAT starts from (its logits on every
  // training sequence, computed once): the weight of the distillation term in the loss (0: the
  // cross-entropy alone, as before) and its softmax temperature (ssm_core/layers.hpp).
  double distill = 0;
  double distill_temperature = 2;
  // Oscillation dampening (Nagel et al. 2022): the loss gains dampen/2 * sum (w - q(w))^2 over
  // every quantized weight w inside its format's range (q(w): its dequantized code), pulling the
  // latent weights to their codes so that they stop flipping between two codes at every step;
  // with the discrete recurrence also over Lambda_bar's and B_bar's parts. 0: off.
  double dampen = 0;
  static const keys::Table<QatOptions>& keys();
};

struct QatReport {
  size_t epoch = 0;
  double train_loss = 0, train_accuracy = 0, val_accuracy = 0, seconds = 0, samples_per_s = 0;
  bool best = false;
};

// Everything a QAT run needs to continue after an interruption, at an epoch boundary or within an
// epoch, to the bits of an uninterrupted run: the float master weights' optimiser state (with the
// progress and the best validation accuracy so far), the recurrence's (`discrete` / `polar`) and
// the learned steps' and offsets' (qat.learn_scales), and the epoch of the best model (0: PTQ).
// Everything else (PTQ's formats, the distillation targets, the schedule) is recomputed from the
// run's inputs.
struct QatState {
  TrainState weights, recurrence, steps, offsets;
  size_t best_epoch = 0;
};

// A run continued from `state`; `best` is the model of its best epoch so far (the file the run
// wrote; ignored when best_epoch is 0). parameters_only: a new run (its own schedule, fresh
// optimiser moments) that starts from the state's parameters instead of the float checkpoint's;
// the model they quantize to is its epoch 0, and `best` is unused.
struct QatResume {
  QatState state;
  QModel best;
  bool parameters_only = false;
};

struct QatCallbacks {
  std::function<void(const Progress&)> progress;
  // after every epoch: its report, the best model so far and the state to save for --resume
  std::function<void(const QatReport&, const QModel& best, const QatState& state)> epoch_end;
  // Polled after every step: true makes train_qat return at once, unfinished (a time limit, a
  // signal); save its state and continue later.
  std::function<bool()> stop_requested;
};

struct QatResult {
  QModel best;                  // the quantized model of the best validation accuracy
  double best_val_accuracy = 0;
  double ptq_val_accuracy = 0;    // PTQ of the float checkpoint
  double start_val_accuracy = 0;  // the starting point: PTQ, or the model of QatResume::parameters_only
  std::vector<float> params;    // the float master weights at the end
  std::vector<LearnedStep> steps;     // the learned steps (qat.learn_scales), and
  std::vector<double> learned_scale;  // each one's step at the end
  std::vector<int64_t> learned_zero_point;  // and zero point (its PTQ one unless it learned it)
  std::map<std::string, std::vector<quant::QuantParams>> points;  // the point formats at the end
  QatState state;                                                 // where the run stopped
  bool finished = true;  // false: stopped by stop_requested before its last epoch
};

// S4D and S5 models, classification. Throws InputError for what is not supported. Under several
// ranks each computes its share of every batch and of every validation pass, and all return the
// same result (callbacks run on every rank; only rank 0's should write). `resume`: continue that
// run (the same inputs; a state of another run is refused where its sizes show it).
QatResult train_qat(const FloatCheckpoint& ck, const quant::PrecisionConfig& precision, const Workload& data,
                    const TrainConfig& config, const PtqOptions& options, const QatCallbacks& callbacks,
                    const QatOptions& qat = {}, const Ranks& ranks = one_process(), const QatResume* resume = nullptr);

// The state file of `ssmsim qat --resume` (the training-state format, ssm_core/checkpoint.hpp,
// with the extra groups): `run_key` names the run's inputs, and loading refuses a file whose key
// differs (an empty key accepts any run's: --from-state).
void save_qat_state(const std::filesystem::path& path, const Model& model, const QatState& state,
                    const std::string& run_key);
QatState load_qat_state(const std::filesystem::path& path, const Model& model, const std::string& run_key);

// The float view of a quantized model for the backward pass: the float parameters with every
// quantized tensor replaced by its dequantized codes, and the discretized coefficients replaced by
// the dequantized A and B (S4D: per channel and mode; S5: Lambda_bar and B_bar).
// For oscillation dampening (qat.dampen) it also holds, per float parameter, the step of the
// code that quantizes it (0: not quantized), and the dequantized A and B with their steps in the
// order of recurrence_params_init (per layer A's real and imaginary parts, then B's).
struct QatView {
  std::vector<float> params;
  Model::Prepared<float> prep;
  std::vector<float> step, recurrence, recurrence_step;
};
QatView qat_view(const Model& model, const std::vector<float>& params, const QModel& q);

// One QAT forward (QEngine, codes recorded) and backward over a chunk: adds the gradient into
// grad and returns the summed cross-entropy of the integer logits (times the logit scale; with
// `distill`, the distillation loss of ssm_core/layers.hpp);
// `logits` receives the integer logits of the valid lanes. Exposed for tests.
double qat_chunk(const Model& model, const QatView& view, const QEngine& engine, const Chunk& chunk, QWorkspace& qws,
                 Workspace<float>& ws, float* grad, size_t* correct, std::vector<int64_t>* logits,
                 std::vector<CoeffGrad>* coeff_grads = nullptr, const DistillTargets* distill = nullptr);

// The "discrete" and "polar" parameterisations: per layer, for every state, the two numbers that
// give Lambda_bar (its real and imaginary parts; or rho and theta with Lambda_bar =
// exp(-exp(rho)) e^(i theta)), then B_bar's real and imaginary parts (S4D per state, S5 per state
// and input channel). Initialised from the float model's discretization.
std::vector<float> recurrence_params_init(const Model& model, const std::vector<float>& params, Recurrence r);
std::vector<CoeffOverride> recurrence_coeffs(const Model& model, const std::vector<float>& rparams, Recurrence r);
// The gradient of the loss with respect to those numbers, from the coefficient gradients.
void recurrence_grad(const Model& model, const std::vector<float>& rparams, Recurrence r,
                     const std::vector<CoeffGrad>& coeff_grads, std::vector<float>& grad);

}  // namespace ssmsim::core
