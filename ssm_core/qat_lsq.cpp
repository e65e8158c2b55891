#include "ssm_core/qat_lsq.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include "quant/errors.hpp"
#include "ssm_core/qat.hpp"
#include "ssm_core/qsteps.hpp"

namespace ssmsim::core {

using quant::Component;
using quant::QuantParams;
using quant::ScaledSum;

const std::vector<Component>& learnable_components() {
  static const std::vector<Component> c = {Component::input,   Component::residual, Component::ssm_in,
                                           Component::x,       Component::ssm_out,  Component::gelu_out,
                                           Component::glu,     Component::pool};
  return c;
}

namespace {

std::string allowed_text() {
  std::vector<std::string> n;
  for (const Component c : learnable_components()) n.push_back(quant::component_name(c));
  return keys::join(n);
}

// The points of a component that this model's datapath uses.
std::vector<std::pair<PointId, size_t>> component_points(const QModel& m, Component c) {
  const ModelConfig& mc = m.config;
  std::vector<std::pair<PointId, size_t>> out;
  auto per_layer = [&](PointId id) {
    for (size_t i = 0; i < mc.n_layers; ++i) out.emplace_back(id, i);
  };
  switch (c) {
    case Component::input: out.emplace_back(PointId::input, 0); break;
    case Component::residual:
      out.emplace_back(PointId::encoder_out, 0);
      per_layer(PointId::res);
      if (mc.norm_out()) per_layer(PointId::out);
      break;
    case Component::ssm_in: per_layer(PointId::u); break;
    case Component::x:
      per_layer(PointId::x);
      if (m.points.count(point_name(PointId::xo, 0))) per_layer(PointId::xo);
      break;
    case Component::ssm_out: per_layer(PointId::y); break;
    case Component::gelu_out: per_layer(PointId::act); break;
    case Component::glu:
      if (mc.mixing == Mixing::Glu) per_layer(PointId::mix);
      if (mc.mixing != Mixing::Gelu) {
        per_layer(PointId::mixg);
        per_layer(PointId::g);
      }
      break;
    case Component::pool:
      if (mc.pooling == Pooling::Mean) out.emplace_back(PointId::pool, 0);
      break;
    default: break;
  }
  return out;
}

}  // namespace

std::vector<LearnedStep> learned_steps(const QModel& m, const std::vector<Component>& components,
                                       bool learn_zero_points) {
  const auto& ok = learnable_components();
  std::vector<LearnedStep> out;
  for (const Component c : components) {
    const std::string cn = quant::component_name(c);
    if (std::find(ok.begin(), ok.end(), c) == ok.end())
      throw InputError("qat.learn_scales: '" + cn + "' cannot learn its step (weights are recalibrated every step; "
                       "the gate's format is fixed; act is listed by its points); allowed: " + allowed_text());
    const auto pts = component_points(m, c);
    if (pts.empty())
      throw InputError("qat.learn_scales: '" + cn + "' has no point in this model (" +
                       (c == Component::glu ? "mixing: gelu" : "pooling: last") + ")");
    const quant::QuantizerSpec& spec = m.precision.spec(c);
    if (spec.frac)
      throw InputError("qat.learn_scales: '" + cn + "' has a fixed binary point (frac); a learned step needs a "
                       "calibrated scale");
    if (spec.overflow == quant::Overflow::Wrap)
      throw InputError("qat.learn_scales: '" + cn + "' wraps on overflow; LSQ's gradient is that of a saturating "
                       "quantizer (overflow: saturate or saturate_symmetric)");
    if (c != Component::x && spec.operand_bits != 0)
      throw InputError("qat.learn_scales: '" + cn + "' narrows its values to a block-floating-point operand "
                       "(operand_bits); a learned step applies to a point's own rounding only: drop one of the two");
    for (const auto& [id, layer] : pts) {
      LearnedStep s;
      s.id = id;
      s.layer = layer;
      s.name = point_name(id, layer);
      s.spec = spec;
      if (id == PointId::xo) {
        s.spec.bits = spec.operand_bits;
        s.spec.operand_bits = s.spec.operand_block = 0;
      }
      s.s0 = m.point(s.name).scale();
      s.zp0 = m.point(s.name).zero_point;
      s.learn_zp = learn_zero_points && spec.scheme == quant::Scheme::Asymmetric && id != PointId::xo;
      out.push_back(s);
    }
  }
  std::sort(out.begin(), out.end(), [](const LearnedStep& a, const LearnedStep& b) {
    return a.id != b.id ? a.id < b.id : a.layer < b.layer;
  });
  out.erase(std::unique(out.begin(), out.end(), [](const LearnedStep& a, const LearnedStep& b) { return a.name == b.name; }),
            out.end());
  return out;
}

namespace {

// The step as the point's scale kind takes it: a power of two rounds it to the nearest in log2.
double kind_step(const LearnedStep& step, double scale) {
  return step.spec.scale == quant::ScaleKind::Pow2 ? std::exp2(std::nearbyint(std::log2(scale))) : scale;
}

}  // namespace

// The PTQ zero point held in codes: lo = -zp0 s at the step the kind makes of `scale`, and zp0 set
// rather than re-derived (round(-lo / s'') at the format's scale s'' >= s, which a dyadic scale's
// rounding up can move off zp0). Without both, a power-of-two step's zero point followed the
// ratio of the learned step to its power of two (37 -> 32 at 6 bits).
QuantParams step_params(const LearnedStep& step, double scale) {
  QuantParams p = step_params(step, scale, -static_cast<double>(step.zp0) * kind_step(step, scale));
  if (step.spec.scheme == quant::Scheme::Asymmetric) p.zero_point = step.zp0;
  return p;
}

QuantParams step_params(const LearnedStep& step, double scale, double lo) {
  if (!(scale > 0) || !std::isfinite(scale))
    throw InputError("qat: the learned step of " + step.name + " is not a positive number");
  const double s = kind_step(step, scale);
  if (step.spec.scheme == quant::Scheme::Asymmetric)
    return quant::params_from_range(step.spec, lo, lo + s * (std::ldexp(1.0, step.spec.bits) - 1));
  const double qp = std::ldexp(1.0, step.spec.bits - 1) - 1;
  return quant::params_from_range(step.spec, -s * qp, s * qp);
}

namespace {

// The exact pre-rounding value of a scaled sum, in units of its output: sum_k v_k K_k 2^-S_k.
double ratio(const ScaledSum& s, double v0, double v1 = 0, double v2 = 0) {
  double r = v0 * std::ldexp(static_cast<double>(s.K()[0]), -s.shifts()[0]);
  if (s.K().size() > 1) r += v1 * std::ldexp(static_cast<double>(s.K()[1]), -s.shifts()[1]);
  if (s.K().size() > 2) r += v2 * std::ldexp(static_cast<double>(s.K()[2]), -s.shifts()[2]);
  return r;
}

using Visit = std::function<void(double r, int64_t q, size_t t, size_t f, size_t lane)>;

// Every value of a [L, F] point whose pre-rounding value is fn_r(t, f, lane).
template <class R>
void each(const Seq<int32_t>& codes, const Chunk& chunk, R fn_r, const Visit& v) {
  for (size_t l = 0; l < kLanes; ++l) {
    if (!chunk.x[l]) continue;
    for (size_t t = 0; t < codes.L; ++t)
      for (size_t f = 0; f < codes.F; ++f) v(fn_r(t, f, l), codes.at(t, f)[l], t, f, l);
  }
}

// The normalisation's pre-rounding values of one step and lane (qstep::norm's arithmetic).
void norm_ratios(const QLayerConsts& Ly, const Seq<int32_t>& in, size_t t, size_t l, size_t H, std::vector<double>& r) {
  r.resize(H);
  if (Ly.batch_norm) {
    for (size_t f = 0; f < H; ++f) r[f] = ratio(Ly.norm[f], static_cast<double>(in.at(t, f)[l]) * Ly.gamma[f], Ly.beta[f]);
    return;
  }
  int64_t sum = 0;
  for (size_t f = 0; f < H; ++f) sum += in.at(t, f)[l];
  quant::uwide_t v = 0;
  for (size_t f = 0; f < H; ++f) {
    const int64_t d = static_cast<int64_t>(H) * in.at(t, f)[l] - sum;
    v += static_cast<quant::uwide_t>(static_cast<quant::wide_t>(d) * d);
  }
  const quant::uwide_t num = (quant::uwide_t{1} << (2 * kLnFrac)) * H;
  const uint64_t rs = quant::isqrt(num / (v + Ly.ln_eps));
  for (size_t f = 0; f < H; ++f) {
    const int64_t d = static_cast<int64_t>(H) * in.at(t, f)[l] - sum;
    r[f] = ratio(Ly.norm[f], static_cast<double>(d) * static_cast<double>(rs) * Ly.gamma[f], Ly.beta[f]);
  }
}

void norm_point(const QLayerConsts& Ly, const Seq<int32_t>& in, const Seq<int32_t>& out, const Chunk& chunk,
                const Visit& v) {
  std::vector<double> r;
  for (size_t l = 0; l < kLanes; ++l) {
    if (!chunk.x[l]) continue;
    for (size_t t = 0; t < out.L; ++t) {
      norm_ratios(Ly, in, t, l, out.F, r);
      for (size_t f = 0; f < out.F; ++f) v(r[f], out.at(t, f)[l], t, f, l);
    }
  }
}

// The state and its static operand: per lane and state group (S4D: a channel's modes; S5: every
// state), step by step, the previous operands (qstep::state_operands on the recorded states) and
// the state update's pre-rounding value; f = 2 * state + part (S4D: state = h * N2 + n).
// `operand`: the xo point's values (the narrowing of each recorded state) instead of x's.
void state_point(const Model& model, const QLayerConsts& Ly, const QWorkspace::Layer& R, const Chunk& chunk,
                 bool operand, const Visit& v) {
  const ModelConfig& mc = model.config();
  const bool s5 = mc.layer == LayerType::S5;
  const size_t L = chunk.L, H = mc.H, n = Ly.states, groups = s5 ? 1 : H;
  auto rec = [&](size_t k, size_t t, size_t part, size_t l) -> int64_t {  // state k of the layer
    return s5 ? R.x[(t * 2 * n + 2 * k + part) * kLanes + l] : R.x[((k * L + t) * 2 + part) * kLanes + l];
  };
  std::vector<int64_t> xr(n), xi(n), orr(n), oi(n);
  std::vector<qstep::Ex> e(n);
  for (size_t l = 0; l < kLanes; ++l) {
    if (!chunk.x[l]) continue;
    for (size_t gidx = 0; gidx < groups; ++gidx) {
      const size_t k0 = gidx * n;
      std::fill(orr.begin(), orr.end(), 0);
      std::fill(oi.begin(), oi.end(), 0);
      std::fill(e.begin(), e.end(), qstep::Ex{});
      for (size_t t = 0; t < L; ++t) {
        for (size_t j = 0; j < n; ++j) {
          const size_t k = k0 + j;
          const int64_t cr = rec(k, t, 0, l), ci = rec(k, t, 1, l);
          if (operand) {
            v(ratio(Ly.xop.narrow, static_cast<double>(cr)), Ly.xop.narrow(cr, nullptr), t, 2 * k, l);
            v(ratio(Ly.xop.narrow, static_cast<double>(ci)), Ly.xop.narrow(ci, nullptr), t, 2 * k + 1, l);
            continue;
          }
          double bur = 0, bui = 0;
          if (s5) {
            for (size_t h = 0; h < H; ++h) {
              const double u = R.u.at(t, h)[l];
              bur += static_cast<double>(Ly.Br[k * H + h]) * u;
              bui += static_cast<double>(Ly.Bi[k * H + h]) * u;
            }
          } else {
            const double u = R.u.at(t, gidx)[l];
            bur = static_cast<double>(Ly.Br[k]) * u;
            bui = static_cast<double>(Ly.Bi[k]) * u;
          }
          // each part of the operand shifted by its own exponent (docs/fixed_point.md 9.3)
          const double ar = Ly.Ar[k], ai = Ly.Ai[k];
          const double sr = std::ldexp(static_cast<double>(orr[j]), e[j].re);
          const double si = std::ldexp(static_cast<double>(oi[j]), e[j].im);
          const double axr = ar * sr - ai * si;
          const double axi = ar * si + ai * sr;
          const ScaledSum& upd = Ly.xupd[s5 ? k : gidx];
          // delta form: the stored state before this step (docs/fixed_point.md 9.3)
          const double pr = t > 0 ? static_cast<double>(rec(k, t - 1, 0, l)) : 0.0;
          const double pi = t > 0 ? static_cast<double>(rec(k, t - 1, 1, l)) : 0.0;
          v(ratio(upd, axr, bur, pr), cr, t, 2 * k, l);
          v(ratio(upd, axi, bui, pi), ci, t, 2 * k + 1, l);
        }
        if (operand) continue;
        for (size_t j = 0; j < n; ++j) {
          xr[j] = rec(k0 + j, t, 0, l);
          xi[j] = rec(k0 + j, t, 1, l);
        }
        qstep::state_operands(Ly.xop, xr.data(), xi.data(), n, 1, orr.data(), oi.data(), e.data(), nullptr);
      }
    }
  }
}

// The state's gradient dL/dx_t (real view, [lane][L][2 * states]) from the output gradient gy by
// the adjoint recurrence of the float model at the dequantized coefficients:
// G_t = k conj(C) gy_t + conj(Lambda_bar) G_{t+1} (Model::backward treats the operand as x).
std::vector<double> state_grads(const Model& model, const QatView& view, size_t i, const Seq<float>& gy, const Chunk& chunk) {
  const ModelConfig& mc = model.config();
  const bool s5 = mc.layer == LayerType::S5;
  const size_t L = chunk.L, H = mc.H;
  const size_t S = s5 ? view.prep.s5[i].P2 : H * view.prep.s4d[i].N2;
  std::vector<double> G(kLanes * L * 2 * S, 0.0);
  for (size_t l = 0; l < kLanes; ++l) {
    if (!chunk.x[l]) continue;
    double* g = &G[l * L * 2 * S];
    for (size_t t = L; t-- > 0;) {
      double* gt = g + t * 2 * S;
      for (size_t k = 0; k < S; ++k) {
        double gr = 0, gi = 0;
        double lr, li;
        if (s5) {
          const auto& c = view.prep.s5[i];
          for (size_t h = 0; h < H; ++h) {
            const double y = gy.at(t, h)[l];
            gr += y * c.Wc[h * 2 * S + 2 * k];
            gi += y * c.Wc[h * 2 * S + 2 * k + 1];
          }
          lr = c.Lr[k], li = c.Li[k];
        } else {
          const auto& c = view.prep.s4d[i];
          const double y = gy.at(t, k / c.N2)[l];
          gr = 2 * y * c.Cr[k];
          gi = -2 * y * c.Ci[k];
          lr = c.Lr[k], li = c.Li[k];
        }
        if (t + 1 < L) {
          const double nr = gt[2 * S + 2 * k], ni = gt[2 * S + 2 * k + 1];
          gr += lr * nr + li * ni;
          gi += lr * ni - li * nr;
        }
        gt[2 * k] = gr;
        gt[2 * k + 1] = gi;
      }
    }
  }
  return G;
}

// Every value of a learned point: its pre-rounding value (section 9.3's narrowing, exactly) and
// its code. Layer inputs h: the encoder output or the previous layer's output (res without a
// post-norm).
void visit_point(const Model& model, const QEngine& engine, const QWorkspace& qws, const Chunk& chunk,
                 const LearnedStep& s, const Visit& v) {
  const QConsts& I = engine.consts();
  const QModel& q = engine.model();
  const ModelConfig& mc = model.config();
  const size_t H = mc.H, Din = mc.d_input, i = s.layer;
  switch (s.id) {
    case PointId::input: {
      const double sc = q.point(PointId::input).scale();
      each(qws.in, chunk, [&](size_t t, size_t d, size_t l) { return static_cast<double>(chunk.x[l][t * Din + d]) / sc; }, v);
      return;
    }
    case PointId::encoder_out:
      each(qws.h0, chunk, [&](size_t t, size_t o, size_t l) {
        int64_t acc = I.be[o];
        for (size_t d = 0; d < Din; ++d) acc += static_cast<int64_t>(I.We[o * Din + d]) * qws.in.at(t, d)[l];
        return ratio(I.enc[o], static_cast<double>(acc));
      }, v);
      return;
    case PointId::pool: {
      const Seq<int32_t>& last = qws.layers[mc.n_layers - 1].out;
      const ScaledSum mean = engine.mean_pool(chunk.L);
      each(qws.pooled, chunk, [&](size_t, size_t f, size_t l) {
        int64_t sum = 0;
        for (size_t t = 0; t < last.L; ++t) sum += last.at(t, f)[l];
        return ratio(mean, static_cast<double>(sum));
      }, v);
      return;
    }
    default: break;
  }
  const QLayerConsts& Ly = I.layers[i];
  const auto& R = qws.layers[i];
  const Seq<int32_t>& h = i == 0 ? qws.h0 : qws.layers[i - 1].out;
  switch (s.id) {
    case PointId::u:
      if (mc.norm_in())
        norm_point(Ly, h, R.u, chunk, v);
      else
        each(R.u, chunk, [&](size_t t, size_t f, size_t l) { return ratio(Ly.u_in, h.at(t, f)[l]); }, v);
      return;
    case PointId::x: state_point(model, Ly, R, chunk, false, v); return;
    case PointId::xo: state_point(model, Ly, R, chunk, true, v); return;
    case PointId::y: {
      // the output accumulator of each step from the recorded states' operands
      const bool s5 = mc.layer == LayerType::S5;
      const size_t n = Ly.states, L = chunk.L;
      std::vector<double> acc(L * H);
      std::vector<int64_t> xr(n), xi(n), orr(n), oi(n);
      std::vector<qstep::Ex> e(n);
      for (size_t l = 0; l < kLanes; ++l) {
        if (!chunk.x[l]) continue;
        for (size_t t = 0; t < L; ++t)
          for (size_t gidx = 0; gidx < (s5 ? 1 : H); ++gidx) {
            for (size_t j = 0; j < n; ++j) {
              const size_t k = gidx * n + j;
              xr[j] = s5 ? R.x[(t * 2 * n + 2 * k) * kLanes + l] : R.x[((k * L + t) * 2) * kLanes + l];
              xi[j] = s5 ? R.x[(t * 2 * n + 2 * k + 1) * kLanes + l] : R.x[((k * L + t) * 2 + 1) * kLanes + l];
            }
            qstep::state_operands(Ly.xop, xr.data(), xi.data(), n, 1, orr.data(), oi.data(), e.data(), nullptr);
            for (size_t hh = s5 ? 0 : gidx; hh < (s5 ? H : gidx + 1); ++hh) {
              double a = 0;
              for (size_t j = 0; j < n; ++j) {
                const size_t c = s5 ? hh * n + j : gidx * n + j;
                a += static_cast<double>(qstep::output_term(Ly.Cr[c], Ly.Ci[c], {orr[j], oi[j]}, e[j]));
              }
              acc[t * H + hh] = a;
            }
          }
        for (size_t t = 0; t < L; ++t)
          for (size_t hh = 0; hh < H; ++hh)
            v(ratio(Ly.yout[hh], acc[t * H + hh], static_cast<double>(Ly.D[hh]) * R.u.at(t, hh)[l]), R.y.at(t, hh)[l], t,
              hh, l);
      }
      return;
    }
    case PointId::act: {
      const QuantParams& py = q.point(PointId::y, i);
      const double sa = q.point(PointId::act, i).scale();
      each(R.act, chunk, [&](size_t t, size_t f, size_t l) {
        const int64_t y = R.y.at(t, f)[l];
        if (Ly.hard_gelu) {
          const int64_t c = std::clamp<int64_t>(y + Ly.hard_two, 0, 2 * Ly.hard_two);
          return ratio(Ly.hard_out, static_cast<double>(y) * static_cast<double>(c));
        }
        const double yr = py.format.to_real(y);
        return 0.5 * yr * (1.0 + std::erf(yr / std::sqrt(2.0))) / sa;
      }, v);
      return;
    }
    case PointId::mix:
    case PointId::mixg: {
      const bool gate = s.id == PointId::mixg;
      const size_t o0 = gate && mc.mixing == Mixing::Glu ? H : 0;
      each(gate ? R.mixg : R.mix, chunk, [&](size_t t, size_t o, size_t l) {
        int64_t acc = Ly.bm[o0 + o];
        for (size_t f = 0; f < H; ++f) acc += static_cast<int64_t>(Ly.Wm[(o0 + o) * H + f]) * R.act.at(t, f)[l];
        return ratio(gate ? Ly.mix_gate[o] : Ly.mix_val[o], static_cast<double>(acc));
      }, v);
      return;
    }
    case PointId::g: {
      const Seq<int32_t>& other = mc.mixing == Mixing::Glu ? R.mix : mc.mixing == Mixing::HalfGlu1 ? R.act : R.y;
      each(R.g, chunk, [&](size_t t, size_t f, size_t l) {
        const int64_t gate = qstep::sigmoid(Ly, R.mixg.at(t, f)[l], nullptr);
        return ratio(Ly.g_out, static_cast<double>(other.at(t, f)[l]) * static_cast<double>(gate));
      }, v);
      return;
    }
    case PointId::res:
      each(R.res, chunk, [&](size_t t, size_t f, size_t l) { return ratio(Ly.res, R.g.at(t, f)[l], h.at(t, f)[l]); }, v);
      return;
    case PointId::out: norm_point(Ly, R.res, R.out, chunk, v); return;
    default: throw InputError("qat: the point " + s.name + " cannot learn its step");
  }
}

}  // namespace

void lsq_values(const Model& model, const QEngine& engine, const QWorkspace& qws, const Chunk& chunk,
                const LearnedStep& step, std::vector<double>& r, std::vector<int64_t>& q) {
  r.clear();
  q.clear();
  visit_point(model, engine, qws, chunk, step, [&](double rr, int64_t qq, size_t, size_t, size_t) {
    r.push_back(rr);
    q.push_back(qq);
  });
}

void lsq_chunk(const Model& model, const QatView& view, const QEngine& engine, const QWorkspace& qws,
               const Workspace<float>& ws, const Chunk& chunk, const std::vector<LearnedStep>& steps, LsqSums& sums) {
  const ModelConfig& mc = model.config();
  const QModel& qm = engine.model();
  const size_t H = mc.H, Din = mc.d_input;
  sums.grad.assign(steps.size(), 0.0);
  sums.count.assign(steps.size(), 0.0);
  sums.zgrad.assign(steps.size(), 0.0);
  // the input's gradient: the encoder's transpose on the gradient at its output (ws.gx)
  const float* We = view.params.data() + model.layout().find("encoder.weight").offset;
  std::vector<std::vector<double>> xgrad(mc.n_layers);
  for (size_t k = 0; k < steps.size(); ++k) {
    const LearnedStep& s = steps[k];
    const QuantParams& p = qm.point(s.name);
    const int64_t qmin = p.qmin() - p.zero_point, qmax = p.qmax() - p.zero_point;  // the operand q - zp
    const auto* W = s.id == PointId::input || s.id == PointId::encoder_out || s.id == PointId::pool
                        ? nullptr
                        : &ws.layers[s.layer];
    if ((s.id == PointId::x || s.id == PointId::xo) && xgrad[s.layer].empty())
      xgrad[s.layer] = state_grads(model, view, s.layer, W->grads.y, chunk);
    const size_t S2 = (s.id == PointId::x || s.id == PointId::xo) ? xgrad[s.layer].size() / (kLanes * chunk.L) : 0;
    auto grad = [&](size_t t, size_t f, size_t l) -> double {
      switch (s.id) {
        case PointId::input: {
          double g = 0;
          for (size_t o = 0; o < H; ++o) g += static_cast<double>(We[o * Din + f]) * ws.gx.at(t, o)[l];
          return g;
        }
        case PointId::encoder_out: return ws.gx.at(t, f)[l];
        case PointId::pool: return ws.gpool.at(0, f)[l];
        case PointId::u: return W->grads.z.at(t, f)[l];
        case PointId::x:
        case PointId::xo: return xgrad[s.layer][(l * chunk.L + t) * S2 + f];
        case PointId::y: return W->grads.y.at(t, f)[l];
        case PointId::act: return W->grads.act.at(t, f)[l];
        case PointId::mix: return W->grads.m.at(t, f)[l];
        case PointId::mixg: return W->grads.m.at(t, mc.mixing == Mixing::Glu ? H + f : f)[l];
        case PointId::g: return W->grads.g.at(t, f)[l];
        case PointId::res: return W->grads.r.at(t, f)[l];
        case PointId::out: return W->grads.out.at(t, f)[l];
        default: return 0.0;
      }
    };
    // A learned zero point holds the real offset lo fixed while s moves (LSQ+): a clipped value's
    // dqhat/ds is then 0 or 2^b - 1 (the code, not the operand), zp more than with zp fixed in codes.
    const double zp = static_cast<double>(p.zero_point);
    double sum = 0, count = 0, zsum = 0;
    visit_point(model, engine, qws, chunk, s, [&](double r, int64_t q, size_t t, size_t f, size_t l) {
      const double g = grad(t, f, l);
      const bool clipped = r <= static_cast<double>(qmin) || r >= static_cast<double>(qmax);
      sum += g * (lsq_dqds(r, q, qmin, qmax) + (s.learn_zp && clipped ? zp : 0.0));
      if (s.learn_zp && clipped) zsum += g;
      count += 1;
    });
    sums.grad[k] = sum;
    sums.count[k] = count;
    sums.zgrad[k] = zsum;
  }
}

}  // namespace ssmsim::core
