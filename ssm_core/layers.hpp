// Forward and backward passes of the dense parts of the model stack, on chunks (ssm_core/seq.hpp).
// Backward functions ADD parameter gradients into the given buffers and WRITE input gradients.
// T is float (training) or double (gradient checks).
#pragma once

#include <cstdint>
#include <vector>

#include "ssm_core/seq.hpp"

namespace ssmsim::core {

// out = W in + b; W is [O, I] row-major (PyTorch nn.Linear layout), b may be null.
template <typename T>
void linear_forward(const T* W, const T* b, size_t O, const Seq<T>& in, Seq<T>& out);
// The backward pass: gW += gout in^T, gb += gout's sums, gin = W^T gout (when gin is given).
// With threads > 1 the weight and the input gradients are computed side by side, each by the same
// operations as on one thread (the same bits).
template <typename T>
void linear_backward(const T* W, size_t O, const Seq<T>& in, const Seq<T>& gout, T* gW, T* gb, Seq<T>* gin,
                     size_t threads = 1);

// LayerNorm over the features of each step: out = (in - mean) * rstd * gamma + beta.
// mean and rstd ([L * kLanes]) are kept for the backward pass.
template <typename T>
void layernorm_forward(const T* gamma, const T* beta, const Seq<T>& in, Seq<T>& out,
                       std::vector<T>& mean, std::vector<T>& rstd, T eps = T(1e-5));
template <typename T>
void layernorm_backward(const T* gamma, const Seq<T>& in, const std::vector<T>& mean,
                        const std::vector<T>& rstd, const Seq<T>& gout, T* ggamma, T* gbeta,
                        Seq<T>& gin);

// BatchNorm over (valid lanes x steps) of each feature (torch.nn.BatchNorm1d on [B, H, L]).
// `valid` marks the lanes that hold a sequence;
// padding lanes neither enter the statistics nor receive gradient.
// - batch mode (run_mean null): mean and var (biased) from this chunk's valid elements, written to
//   mean / var; rstd = 1/sqrt(var + eps).
// - inference mode: mean = run_mean, var = run_var.
// out = (in - mean) * rstd * gamma + beta; mean, var, rstd ([F]) are kept for the backward pass.
template <typename T>
void batchnorm_forward(const T* gamma, const T* beta, const T* run_mean, const T* run_var,
                       const Seq<T>& in, const bool* valid, Seq<T>& out, std::vector<T>& mean,
                       std::vector<T>& var, std::vector<T>& rstd, T eps = T(1e-5));
// Backward; `frozen`: inference mode (the statistics are constants), else batch mode (they
// depend on the input).
template <typename T>
void batchnorm_backward(const T* gamma, const Seq<T>& in, const bool* valid, bool frozen,
                        const std::vector<T>& mean, const std::vector<T>& rstd, const Seq<T>& gout,
                        T* ggamma, T* gbeta, Seq<T>& gin);

// GELU with the exact error function (PyTorch's default): x * Phi(x).
template <typename T>
void gelu_forward(const Seq<T>& in, Seq<T>& out);
// The backward passes with `threads` > 1 split their elements over that many threads (QAT's idle
// cores; element-wise, so the same bits).
template <typename T>
void gelu_backward(const Seq<T>& in, const Seq<T>& gout, Seq<T>& gin, size_t threads = 1);

// GLU over features: in has 2F features, out = in[:F] * sigmoid(in[F:]) (torch.nn.GLU).
template <typename T>
void glu_forward(const Seq<T>& in, Seq<T>& out);
template <typename T>
void glu_backward(const Seq<T>& in, const Seq<T>& gout, Seq<T>& gin, size_t threads = 1);

// Half GLU: out = x * sigmoid(g) with x and g of F features each (S5's half_glu variants).
template <typename T>
void gate_forward(const Seq<T>& x, const Seq<T>& g, Seq<T>& out);
template <typename T>
void gate_backward(const Seq<T>& x, const Seq<T>& g, const Seq<T>& gout, Seq<T>& gx, Seq<T>& gg);

// Channel dropout tied across time (state-spaces DropoutNd): mask [F * kLanes] holds 0 or
// 1/(1-p). In place.
template <typename T>
void dropout_apply(const std::vector<T>& mask, Seq<T>& x);

// Mean over time, or the last step: out [F * kLanes].
template <typename T>
void mean_pool_forward(const Seq<T>& in, std::vector<T>& out);
template <typename T>
void mean_pool_backward(const std::vector<T>& gout, Seq<T>& gin);

// Softmax cross-entropy per lane over logits [C * kLanes] (class-major). Lanes with
// label < 0 are padding: no loss, zero gradient. Returns the summed loss; glogits receives
// d(sum loss)/d logits. correct counts argmax hits.
template <typename T>
T softmax_xent(const std::vector<T>& logits, size_t C, const int32_t* labels,
               std::vector<T>& glogits, size_t* correct);

// Knowledge distillation from a teacher's logits (Hinton et al. 2015), per lane:
//   (1 - weight) CE(z, label) + weight T^2 KL(softmax(t / T) || softmax(z / T)),
// z the lane's logits, t the teacher's (teacher[l]: C values; null for padding lanes, which have
// label < 0 too). At weight 0 it is softmax_xent, bit for bit. Same outputs as softmax_xent; the
// gradient is (1 - weight)(softmax(z) - onehot) + weight T (softmax(z / T) - softmax(t / T)).
struct DistillTargets {
  const float* teacher[kLanes] = {};
  double weight = 0, temperature = 1;
};
template <typename T>
T distill_xent(const std::vector<T>& logits, size_t C, const int32_t* labels, const DistillTargets& d,
               std::vector<T>& glogits, size_t* correct);

}  // namespace ssmsim::core
