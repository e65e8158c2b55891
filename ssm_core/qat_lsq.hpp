// QAT's learned step sizes (LSQ: Esser et al. 2020, "Learned Step Size Quantization") for the
// activation and state points (docs/quantization.md, "Learned step sizes").
//
// A learned point keeps the integer C-model's contract: its format is rebuilt from a float master
// step after every optimiser step, in the point's own scale kind (dyadic with its scale_bits, or
// a power of two), and QEngine runs on it unchanged. The step's gradient is LSQ's:
//   dL/ds = g_s * sum_i dL/dqhat_i * dqhat_i/ds,   g_s = 1 / sqrt(N * Qp)
//   dqhat/ds = round(v/s) - v/s   for qmin < v/s < qmax;   qmin (v/s <= qmin);   qmax (v/s >= qmax)
// with dL/dqhat_i the straight-through backward's gradient at the point (Model::backward's
// activation gradients; the state's from its adjoint recurrence), round(v/s) the recorded code,
// N the values one sequence quantizes at the point, and v/s the exact pre-rounding value: the
// integer sum the C-model narrows into the point, times its constants (the exact table argument
// for the GELU table), recomputed from the recorded codes.
#pragma once

#include <string>
#include <vector>

#include "quant/precision.hpp"
#include "ssm_core/qmodel.hpp"

namespace ssmsim::core {

struct QatView;

// One learned step: the point, the spec its format follows, and its PTQ step s0 (the master
// value is s / s0, starting at 1).
struct LearnedStep {
  PointId id = PointId::input;
  size_t layer = 0;
  std::string name;          // the point's key in QModel::points
  quant::QuantizerSpec spec;  // the component's (xo: x's with bits = operand_bits)
  double s0 = 1;
  int64_t zp0 = 0;            // the PTQ zero point (asymmetric points)
  bool learn_zp = false;      // an asymmetric point that learns its zero point too (LSQ+)
};

// The components whose points may learn their step: the activation points and the state.
const std::vector<quant::Component>& learnable_components();

// The points of `components` that the model's datapath uses, in point-table order then layer
// order. InputError for a component that cannot learn (a weight, bias, act, the fixed-format
// gate), has no point in this model (glu with gelu mixing, pool with last pooling), or whose
// spec has a fixed binary point (frac) or wrapping overflow.
// With learn_zero_points, the asymmetric ones learn their zero point too.
std::vector<LearnedStep> learned_steps(const QModel& ptq, const std::vector<quant::Component>& components,
                                       bool learn_zero_points = false);

// The point's parameters for the step `scale`: dyadic: the smallest dyadic scale of the spec's
// scale_bits that is >= scale (params_from_range on +-scale * Qp; scale itself to 2^-(scale_bits-1));
// pow2: the power of two nearest to scale in log2 (round(log2 scale)).
// An asymmetric point: params_from_range on [lo, lo + s (2^b - 1)], s the step as the scale kind
// takes it; without a learned offset `lo` the PTQ zero point is held in codes (lo = -zp0 s, and the
// zero point is zp0 whatever the format's scale rounding).
quant::QuantParams step_params(const LearnedStep& step, double scale);
quant::QuantParams step_params(const LearnedStep& step, double scale, double lo);

// LSQ's dqhat/ds for the pre-rounding value r = v/s and its code q.
inline double lsq_dqds(double r, int64_t q, int64_t qmin, int64_t qmax) {
  if (r <= static_cast<double>(qmin)) return static_cast<double>(qmin);
  if (r >= static_cast<double>(qmax)) return static_cast<double>(qmax);
  return static_cast<double>(q) - r;
}

// Per learned step: sum over the chunk's values of dL/dqhat_i * dqhat_i/ds, and the number of
// values (valid lanes only).
// zgrad: sum of dL/dqhat_i * dqhat_i/dlo over the values (1 where clipped, LSQ+), for the points
// that learn their zero point.
struct LsqSums {
  std::vector<double> grad, count, zgrad;
};

// The chunk's LSQ sums, after qat_chunk ran on it with ws.keep_point_grads set (the recorded
// codes in qws, the backward's gradients in ws).
void lsq_chunk(const Model& model, const QatView& view, const QEngine& engine, const QWorkspace& qws,
               const Workspace<float>& ws, const Chunk& chunk, const std::vector<LearnedStep>& steps, LsqSums& sums);

// Every learned step's pre-rounding values (v/s) and codes over a chunk, in lsq_chunk's order
// (for tests: each must round to its code).
void lsq_values(const Model& model, const QEngine& engine, const QWorkspace& qws, const Chunk& chunk,
                const LearnedStep& step, std::vector<double>& r, std::vector<int64_t>& q);

}  // namespace ssmsim::core
