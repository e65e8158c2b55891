// One chunk of QAT (ssm_core/qat.hpp's qat_view and qat_chunk): the integer forward pass with
// every code recorded, the recorded codes dequantized into the float model's workspace, the loss of
// the integer logits and the float backward pass through the quantizers' straight-through view.
#include <algorithm>
#include <cmath>

#include "ssm_core/layers.hpp"
#include "ssm_core/qat.hpp"

namespace ssmsim::core {

namespace {

using quant::QuantParams;

void dq_seq(const Seq<int32_t>& in, const QuantParams& p, Seq<float>& out) {
  out.resize(in.L, in.F);
  const double s = p.scale();
  for (size_t i = 0; i < in.v.size(); ++i) out.v[i] = static_cast<float>(static_cast<double>(in.v[i]) * s);
}

// Writes the dequantized codes of a [channels, ...] tensor over a float range.
// (code - zero point) * scale: what the integer model's operand means.
// With separate parts, the operand (q - zp) 2^shift in its channel's unit; `re_offset` is added to
// the real parts of a complex tensor.
// `step` (when given) receives each element's step: its quantizer's scale.
void dq_tensor(const QTensor& t, float* out, double re_offset = 0.0, float* step = nullptr) {
  const size_t per = t.size() / t.channels();
  for (size_t i = 0; i < t.size(); ++i) {
    out[i] = static_cast<float>(static_cast<double>(t.operand(i)) * t.unit(i / per) + (i % 2 == 0 ? re_offset : 0.0));
    if (step) step[i] = static_cast<float>(t.params[t.param_index(i)].scale());
  }
}

// A: in delta form the stored tensor is Lambda_bar - 1 (docs/fixed_point.md 9.3).
void dq_a(const QModel& q, const std::string& name, float* out, float* step = nullptr) {
  dq_tensor(q.tensor(name), out, q.precision.spec(quant::Component::A).delta ? 1.0 : 0.0, step);
}

// Bias codes at accumulator scale s(W)[o] * s(in).
void dq_bias(const QTensor& b, const QTensor& W, const QuantParams& in, float* out, float* step) {
  for (size_t o = 0; o < b.size(); ++o) {
    step[o] = static_cast<float>(W.p(W.params.size() == 1 ? 0 : o).scale() * in.scale());
    out[o] = static_cast<float>(static_cast<double>(b.q[o]) * step[o]);
  }
}

}  // namespace

QatView qat_view(const Model& model, const std::vector<float>& params, const QModel& q) {
  const ModelConfig& mc = model.config();
  QatView v;
  v.params = params;
  v.step.assign(params.size(), 0.f);
  auto offset = [&](const std::string& name) { return model.layout().find(name).offset; };
  auto at = [&](const std::string& name) { return &v.params[offset(name)]; };
  // a quantized tensor's dequantized codes and steps over its float parameter
  auto dq = [&](const std::string& q_name, const std::string& name) {
    const size_t o = offset(name);
    dq_tensor(q.tensor(q_name), &v.params[o], 0.0, &v.step[o]);
  };
  auto dq_b = [&](const std::string& q_name, const std::string& w_name, const QuantParams& in,
                  const std::string& name) {
    const size_t o = offset(name);
    dq_bias(q.tensor(q_name), q.tensor(w_name), in, &v.params[o], &v.step[o]);
  };
  const QuantParams& input = q.point(PointId::input);
  dq("encoder.weight", "encoder.weight");
  dq_b("encoder.bias", "encoder.weight", input, "encoder.bias");
  const bool s5 = mc.layer == LayerType::S5;
  for (size_t i = 0; i < mc.n_layers; ++i) {
    // the float parameters' names (ssm_core/model.hpp); S5's out1/out2 (and their biases) are
    // registered back to back, so the [O, H] mixing weight lands on them in one piece
    const std::string s = std::to_string(i), p = "layers." + s + ".";
    const std::string f = s5 ? p : "s4_layers." + s + ".";
    dq(p + "C", s5 ? f + "seq.C" : f + "kernel.C");
    dq(p + "D", s5 ? f + "seq.D" : f + "D");
    if (mc.mixing != Mixing::Gelu) {
      const std::string w = !s5 ? f + "output_linear.0." : mc.mixing == Mixing::Glu ? f + "out1." : f + "out2.";
      dq(p + "mix.weight", w + "weight");
      dq_b(p + "mix.bias", p + "mix.weight", q.point(PointId::act, i), w + "bias");
    }
    if (mc.norm == Norm::None) continue;
    const std::string n = s5 ? p + "norm." : "norms." + s + ".";
    const size_t H = mc.H;
    std::vector<float> a(H), b(H);
    dq_tensor(q.tensor(p + "norm.scale"), a.data());
    dq_tensor(q.tensor(p + "norm.shift"), b.data());
    float *g = at(n + "weight"), *be = at(n + "bias");
    if (mc.norm == Norm::Batch) {  // the float BatchNorm that computes the folded affine (a, b)
      const float* rm = at(n + "running_mean");
      const float* rv = at(n + "running_var");
      for (size_t k = 0; k < H; ++k) {
        g[k] = a[k] * std::sqrt(rv[k] + 1e-5f);
        be[k] = b[k] + rm[k] * a[k];
      }
    } else {
      std::copy(a.begin(), a.end(), g);
      std::copy(b.begin(), b.end(), be);
    }
  }
  dq("decoder.weight", "decoder.weight");
  const QuantParams& pooled =
      mc.pooling == Pooling::Mean ? q.point(PointId::pool) : q.point(layer_output(mc), mc.n_layers - 1);
  dq_b("decoder.bias", "decoder.weight", pooled, "decoder.bias");
  model.prepare(v.params.data(), v.prep);
  // A's and B's dequantized parts and steps, appended layer by layer (recurrence_params order)
  auto dq_ab = [&](const std::string& p, std::vector<float>& A, std::vector<float>& B) {
    const size_t r = v.recurrence.size(), nA = A.size(), nB = B.size();
    v.recurrence.resize(r + nA + nB);
    v.recurrence_step.resize(r + nA + nB);
    dq_a(q, p + "A", &v.recurrence[r], &v.recurrence_step[r]);
    dq_tensor(q.tensor(p + "B"), &v.recurrence[r + nA], 0.0, &v.recurrence_step[r + nA]);
    std::copy_n(&v.recurrence[r], nA, A.begin());
    std::copy_n(&v.recurrence[r + nA], nB, B.begin());
  };
  for (size_t i = 0; i < mc.n_layers && s5; ++i) {  // the discretized coefficients the integers use
    S5Coeffs<float>& k = v.prep.s5[i];
    const std::string p = "layers." + std::to_string(i) + ".";
    std::vector<float> A(2 * k.P2), B(2 * k.P2 * k.H);
    dq_ab(p, A, B);
    for (size_t m = 0; m < k.P2; ++m) {
      k.Lr[m] = A[2 * m];
      k.Li[m] = A[2 * m + 1];
      for (size_t h = 0; h < k.H; ++h) {
        k.Wb[2 * m * k.H + h] = B[(m * k.H + h) * 2];
        k.Wb[(2 * m + 1) * k.H + h] = B[(m * k.H + h) * 2 + 1];
      }
    }
  }
  for (size_t i = 0; i < mc.n_layers && !s5; ++i) {
    S4DCoeffs<float>& k = v.prep.s4d[i];
    const std::string p = "layers." + std::to_string(i) + ".";
    std::vector<float> A(2 * k.H * k.N2), B(2 * k.H * k.N2);
    dq_ab(p, A, B);
    for (size_t m = 0; m < k.H * k.N2; ++m) {
      k.Lr[m] = A[2 * m];
      k.Li[m] = A[2 * m + 1];
      k.Br[m] = B[2 * m];
      k.Bi[m] = B[2 * m + 1];
    }
  }
  return v;
}

double qat_chunk(const Model& model, const QatView& view, const QEngine& engine, const Chunk& chunk, QWorkspace& qws,
                 Workspace<float>& ws, float* grad, size_t* correct, std::vector<int64_t>* logits,
                 std::vector<CoeffGrad>* coeff_grads, const DistillTargets* distill) {
  const QModel& q = engine.model();
  const ModelConfig& mc = model.config();
  const size_t H = mc.H, C = mc.d_output, nl = mc.n_layers;
  qws.record = true;
  quant::SaturationCounters sat;
  const QChunkResult r = engine.run_chunk(chunk, qws, sat);
  if (logits) *logits = r.logits;
  // the float workspace the backward pass reads: the dequantized codes (side by side on the
  // chunk's threads: each is its own output)
  struct Dq {
    const Seq<int32_t>* in;
    const QuantParams* p;
    Seq<float>* out;
  };
  std::vector<Dq> dq{{&qws.in, &q.point(PointId::input), &ws.input}, {&qws.h0, &q.point(PointId::encoder_out), &ws.x0}};
  ws.layers.resize(nl);
  std::vector<Seq<float>> glu(2 * nl);  // a GLU's value and gate halves, joined into W.m below
  for (size_t i = 0; i < nl; ++i) {
    const auto& R = qws.layers[i];
    auto& W = ws.layers[i];
    dq.push_back({&R.u, &q.point(PointId::u, i), &W.z});
    const double sx = q.point(PointId::x, i).scale();
    if (mc.layer == LayerType::S5) {  // [L][2 P2][lanes], the float model's xs
      W.xs.resize(qws.in.L, R.x.size() / (qws.in.L * kLanes));
      for (size_t k = 0; k < R.x.size(); ++k) W.xs.v[k] = static_cast<float>(static_cast<double>(R.x[k]) * sx);
    } else {  // read in place by the backward pass, a mode at a time
      W.state_codes = R.x16.empty() ? R.x.data() : nullptr;
      W.state_codes16 = R.x16.empty() ? nullptr : R.x16.data();
      W.state_scale = sx;
    }
    dq.push_back({&R.y, &q.point(PointId::y, i), &W.y});
    dq.push_back({&R.act, &q.point(PointId::act, i), &W.act});
    if (mc.mixing == Mixing::Glu) {
      dq.push_back({&R.mix, &q.point(PointId::mix, i), &glu[2 * i]});
      dq.push_back({&R.mixg, &q.point(PointId::mixg, i), &glu[2 * i + 1]});
    } else if (mc.mixing != Mixing::Gelu) {
      dq.push_back({&R.mixg, &q.point(PointId::mixg, i), &W.m});
    }
    dq.push_back({&R.res, &q.point(PointId::res, i), &W.r});
    if (mc.norm_out()) dq.push_back({&R.out, &q.point(PointId::out, i), &W.out});
  }
  const QuantParams& pooled = mc.pooling == Pooling::Mean ? q.point(PointId::pool) : q.point(layer_output(mc), nl - 1);
  dq.push_back({&qws.pooled, &pooled, &ws.pooled});
  run_team(dq.size(), qws.channel_threads, [&](size_t k, size_t) { dq_seq(*dq[k].in, *dq[k].p, *dq[k].out); });
  for (size_t i = 0; i < nl; ++i) {
    auto& W = ws.layers[i];
    if (mc.mixing == Mixing::Glu) {
      const Seq<float>&a = glu[2 * i], &b = glu[2 * i + 1];
      W.m.resize(a.L, 2 * H);
      for (size_t t = 0; t < a.L; ++t)
        for (size_t f = 0; f < H; ++f)
          for (size_t l = 0; l < kLanes; ++l) {
            W.m.at(t, f)[l] = a.at(t, f)[l];
            W.m.at(t, H + f)[l] = b.at(t, f)[l];
          }
    }
    if (!mc.norm_out()) W.out = W.r;
  }
  ws.pooled_v = ws.pooled.v;
  // the loss of the integer logits
  std::vector<float> lg(C * kLanes, 0.f);
  size_t k = 0;
  for (size_t l = 0; l < kLanes; ++l) {
    if (!chunk.x[l]) continue;
    for (size_t c = 0; c < C; ++c)
      lg[c * kLanes + l] = static_cast<float>(static_cast<double>(r.logits[k++]) * engine.logit_scale());
  }
  size_t hits = 0;
  const double loss = static_cast<double>(distill ? distill_xent(lg, C, chunk.label, *distill, ws.glogits_v, &hits)
                                                  : softmax_xent(lg, C, chunk.label, ws.glogits_v, &hits));
  if (correct) *correct += hits;
  model.refresh_norm_stats(view.params.data(), chunk, ws);
  model.backward(view.params.data(), view.prep, chunk, 0, ws, grad, coeff_grads);
  return loss;
}

}  // namespace ssmsim::core
