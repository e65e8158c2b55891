// The float model stack: encoder -> n_layers x block -> pooling -> decoder (classification).
//
// Block (state-spaces example.py + S4D layer; lindermanlab s5/layers.py SequenceLayer for S5):
//   z = prenorm ? LN(x) : x
//   y = SSM(z);  a = dropout(GELU(y));  g = GLU(W_mix a + b_mix)  [or the S5 half-GLU variants]
//   r = dropout(g) + x;  x' = prenorm ? r : LN(r)
// (norm: none drops LN on both sides: z = x, x' = r.)
// S4D parameter names follow the state-spaces example: encoder.weight [H, d_in], encoder.bias,
// s4_layers.<i>.kernel.{log_dt, log_A_real, A_imag, C}, s4_layers.<i>.D,
// s4_layers.<i>.output_linear.0.{weight [2H, H, 1], bias}, norms.<i>.{weight, bias},
// decoder.weight [classes, H], decoder.bias.
// S5 blocks follow the lindermanlab SequenceLayer: layers.<i>.seq.{Lambda_re, Lambda_im, B, C, D,
// log_step}, the gate layers.<i>.out2.{weight [H, H], bias} (half_glu1/2; glu adds
// layers.<i>.out1, the GLU's first half), layers.<i>.norm.{weight, bias}; Linear weights in the
// nn.Linear layout [out, in] (flax kernels are their transposes).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ssm_core/params.hpp"
#include "ssm_core/s4d.hpp"
#include "ssm_core/s5.hpp"
#include "ssm_core/seq.hpp"

namespace YAML {
class Node;
}
namespace ssmsim::keys {
template <class S>
class Table;
}

namespace ssmsim::core {

enum class LayerType { S4D, S5 };
enum class Mixing { Glu, HalfGlu1, HalfGlu2, Gelu };
enum class Pooling { Mean, Last };
// layer: LayerNorm over the features of each step. batch: BatchNorm over (sequences x steps) of
// each feature; in training the statistics are those of the chunk (kLanes sequences, a "ghost
// batch": every chunk is normalised on its own, so results do not depend on the thread count),
// the running statistics are updated once per step from the whole batch (momentum 0.1, unbiased
// variance, as torch); evaluation uses the running statistics. none: no normalisation at all (the
// S4D paper's model); the block has no norm parameters.
enum class Norm { Layer, Batch, None };
// classify: pool over time, decoder -> class logits, cross-entropy.
// regress:  decoder on each of the last target_length steps, mean squared error (forecasting).
enum class Task { Classify, Regress };

struct ModelConfig {
  std::string name = "custom";
  LayerType layer = LayerType::S4D;
  size_t d_input = 0;     // 0: taken from the workload
  size_t d_output = 0;    // classes (classify) or output features (regress); 0: from the workload
  size_t H = 16;          // model width (channels)
  size_t N = 64;          // S4D state size per channel (N/2 complex modes)
  size_t n_layers = 1;
  bool prenorm = false;
  Norm norm = Norm::Layer;
  // false: the norm has no learned shift (flax LayerNorm(use_bias=False), Q-S5's "LN*" models);
  // its bias is stored as zeros in the optimiser group Buffer, so it is never trained.
  bool norm_bias = true;
  // Where the normalisation sits: on the SSM's input (pre-norm), on the residual sum (post-norm,
  // making the layer output `out`), or nowhere; without a post-norm the layer's output is `r`.
  bool norm_in() const { return prenorm && norm != Norm::None; }
  bool norm_out() const { return !prenorm && norm != Norm::None; }
  Mixing mixing = Mixing::Glu;
  double dropout = 0.0;
  Pooling pooling = Pooling::Mean;
  Task task = Task::Classify;
  size_t target_length = 0;  // regress: scored steps at the end; 0: taken from the workload
  Discretization discretization = Discretization::Zoh;
  S4DInit init = S4DInit::Lin;
  double dt_min = 0.001, dt_max = 0.1;
  // S5 (layer: s5): P the full state size (P/2 stored with conjugate symmetry), initialised as J
  // blocks of the diagonalised HiPPO-LegS of size P/J; step = step_rescale * exp(log_step).
  size_t P = 64;
  size_t J = 1;
  bool conj_sym = true;
  double step_rescale = 1.0;
  S5CInit C_init = S5CInit::TruncStandardNormal;

  // The `model` section's keys (configs/models/*.yaml): the one place they are spelled.
  static const keys::Table<ModelConfig>& keys();
  // Reads the `model` section; ConfigError names key, value, allowed.
  static ModelConfig from_yaml(const YAML::Node& node, const std::string& key_prefix = "model");
  YAML::Node to_yaml() const;
  // Writes every key into a file's metadata as "model.<key>" = its YAML text (float checkpoints,
  // training states and quantized models alike); norm_bias only when false, its default true left
  // out so that files written before the key existed save again to the same bytes.
  void write_metadata(std::map<std::string, std::string>& metadata) const;
  // The reverse: the configuration from a file's "model.<key>" entries (other keys ignored).
  // ConfigError / InputError as from_yaml; `key`, when given, holds the entry being read (the
  // callers name it in their error).
  static ModelConfig read_metadata(const std::map<std::string, std::string>& metadata, std::string* key = nullptr);
};

// One chunk of up to kLanes sequences: pointers to [L, d_input] inputs (null = padding lane),
// and labels (classify) or [target_length, d_output] targets (regress).
struct Chunk {
  const float* x[kLanes] = {};
  int32_t label[kLanes] = {-1, -1, -1, -1, -1, -1, -1, -1};
  const float* y[kLanes] = {};
  size_t L = 0;
};

struct ChunkResult {
  double loss = 0;       // summed over the valid lanes
  size_t correct = 0;
  size_t count = 0;
  std::vector<int32_t> predicted;  // classify: per valid lane
  std::vector<float> outputs;      // regress: per valid lane, [target_length, d_output]
  // BatchNorm in training: per layer, the chunk's mean [H] then biased variance [H], over
  // norm_count = valid lanes x steps elements (Model::update_norm_stats folds them in).
  std::vector<double> norm_stats;
  size_t norm_count = 0;
};

// Activations of one chunk kept for the backward pass, and gradient scratch; one per thread,
// reused across chunks.
template <typename T>
struct Workspace {
  struct Layer {
    Seq<T> z, y, act, m, g, r, out, xs;  // xs: the S5 states
    std::vector<T> states, mean_in, rstd_in, var_in, mean_out, rstd_out, var_out, drop1, drop2;
    // S4D: where one is set, the backward pass reads the states as these codes times state_scale
    // (QAT's integer record, read in place) instead of `states`; the float forward clears them.
    const int32_t* state_codes = nullptr;
    const int16_t* state_codes16 = nullptr;
    double state_scale = 0;
    // With keep_point_grads: the backward pass's gradients with respect to the layer's
    // activations (z the SSM input, m the mixing layer's output, r the residual sum, out the
    // layer output), kept for QAT's learned step sizes (ssm_core/qat_lsq.hpp).
    struct {
      Seq<T> z, y, act, m, g, r, out;
    } grads;
  };
  Seq<T> input, x0, pooled, logits, tail, gtail;
  std::vector<Layer> layers;
  // Threads the backward pass may split an S4D layer's channels over (QAT, where a batch has fewer
  // chunks than threads); the same bits for any count.
  size_t channel_threads = 1;
  std::vector<T> pooled_v, logits_v, glogits_v;
  Seq<T> gx, gr, gg, gm, gact, gact2, gy, gy2, gz, gtmp, gpool, glog, gs;
  bool keep_point_grads = false;  // backward() copies each layer's activation gradients into grads
};

class Model {
 public:
  explicit Model(const ModelConfig& config);
  ~Model();

  const ModelConfig& config() const { return config_; }
  const ParamLayout& layout() const { return layout_; }
  // Fresh parameters from the reference initialisations, seeded.
  std::vector<double> init(uint64_t seed) const;

  // Per-step preparation (the discretized SSM coefficients), then any number of chunks.
  template <typename T>
  struct Prepared {
    std::vector<S4DCoeffs<T>> s4d;  // per layer, S4D models
    std::vector<S5Coeffs<T>> s5;    // per layer, S5 models
    std::vector<S4DSpectrum> conv;  // per layer, S4D convolution mode (prepare_conv)
  };
  template <typename T>
  void prepare(const T* params, Prepared<T>& out) const;
  // The S4D convolution mode for sequences of length L: forward passes then convolve with the
  // kernels through FFTs instead of running the recurrence (float inference only; no gradient).
  template <typename T>
  void prepare_conv(const T* params, size_t L, Prepared<T>& out) const;

  // Forward over a chunk; with `grad` also the backward pass, ADDING d(sum loss)/d params into
  // grad. dropout_seed != 0 is training mode: dropout drawn from that seed, BatchNorm on the
  // chunk's statistics.
  template <typename T>
  ChunkResult run_chunk(const T* params, const Prepared<T>& prep, const Chunk& chunk,
                        uint64_t dropout_seed, T* grad, Workspace<T>& ws) const;

  // The backward half of run_chunk: from the activations a forward pass left in `ws` and the
  // loss gradient it left (ws.glogits_v, classify; ws.glog, regress), ADDS d(sum loss)/d params
  // into grad. QAT calls it on the dequantized activations of the integer forward pass.
  // With `coeff_grads` (one per layer, sized by the caller: S4D H*N/2 and H*N/2; S5 P2 and P2*H),
  // also ADDS the gradients with respect to the discretized coefficients into it.
  template <typename T>
  void backward(const T* params, const Prepared<T>& prep, const Chunk& chunk, uint64_t dropout_seed,
                Workspace<T>& ws, T* grad, std::vector<CoeffGrad>* coeff_grads = nullptr) const;

  // Recomputes the normalisation statistics that backward() reads (LayerNorm mean and reciprocal
  // standard deviation, or BatchNorm in inference mode) from the activations held in `ws`: the
  // layer inputs (pre-norm) or the residual sums (post-norm).
  template <typename T>
  void refresh_norm_stats(const T* params, const Chunk& chunk, Workspace<T>& ws) const;

  // BatchNorm: folds the statistics of a training step's chunks (in chunk order) into the running
  // mean and variance held in `params`. No-op for LayerNorm models.
  void update_norm_stats(const ChunkResult* results, size_t n, float* params, double momentum = 0.1) const;

 private:
  struct LayerOffsets {
    S4DOffsets ssm;
    S5Offsets s5;
    size_t mix_w = 0, mix_b = 0;     // output_linear (2H x H) or the half-GLU gate (H x H)
    size_t norm_w = 0, norm_b = 0;
    size_t run_mean = 0, run_var = 0;  // BatchNorm
  };
  template <typename T>
  void norm_forward(const LayerOffsets& lo, const T* P, bool training, const bool* valid,
                    const Seq<T>& in, Seq<T>& out, std::vector<T>& mean, std::vector<T>& var,
                    std::vector<T>& rstd) const;
  template <typename T>
  void norm_backward(const LayerOffsets& lo, const T* P, bool training, const bool* valid,
                     const Seq<T>& in, const std::vector<T>& mean, const std::vector<T>& rstd,
                     const Seq<T>& gout, T* grad, Seq<T>& gin) const;
  S5Options s5_options() const;
  ModelConfig config_;
  ParamLayout layout_;
  size_t enc_w_ = 0, enc_b_ = 0, dec_w_ = 0, dec_b_ = 0;
  std::vector<LayerOffsets> layers_;
};

// A workspace per thread, reused across chunks.
template <typename T>
std::unique_ptr<Workspace<T>> make_workspace();

}  // namespace ssmsim::core
