// The integer C-model (docs/fixed_point.md section 9): QEngine derives a model's constants once,
// then runs chunks of 8 sequences on integers, one function per step of section 9.3.
#include "ssm_core/qmodel.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <thread>

#include "quant/errors.hpp"
#include "ssm_core/qsimd.hpp"
#include "ssm_core/qsteps.hpp"
#include "ssm_core/trainer.hpp"

namespace ssmsim::core {

using quant::Format;
using quant::QuantParams;
using quant::ScaledSum;
using quant::wide_t;

namespace {

using ISeq = Seq<int32_t>;

// A point's event counter per lane: padding lanes count into a sink, so totals are the valid
// sequences' alone (independent of how a set is cut into chunks).
struct LaneEv {
  uint64_t* p[kLanes];
  uint64_t* operator[](size_t lane) const { return p[lane]; }
};

double sc(const QuantParams& p) { return p.scale(); }

// A weight tensor's multiplier operands: each stored code minus its channel's zero point (one bit
// wider when asymmetric), times 2^k with separate parts; one beyond 32 bits is refused, not truncated.
std::vector<int32_t> operands(const QTensor& t, const std::string& name = "") {
  std::vector<int32_t> out(t.size());
  for (size_t i = 0; i < t.size(); ++i)
    if ((out[i] = static_cast<int32_t>(t.operand(i))) != t.operand(i))
      throw InputError("quantize: " + name + ": an operand (q - zp) 2^k beyond 32 bits; fewer bits or shared parts");
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The constants (section 9.3's scaled sums and tables), derived once per model
// ---------------------------------------------------------------------------------------------

namespace {

// A scaled sum of the model: its multipliers as wide as the precision's rescale_bits (9.1).
ScaledSum rescale(const QModel& m, const std::vector<double>& ratios, const QuantParams& to) {
  return ScaledSum(ratios, to, m.precision.rescale_bits());
}

std::vector<ScaledSum> per_channel_sums(const QModel& m, size_t n,
                                        const std::function<std::vector<double>(size_t)>& ratios,
                                        const QuantParams& to) {
  std::vector<ScaledSum> out;
  for (size_t c = 0; c < n; ++c) out.push_back(rescale(m, ratios(c), to));
  return out;
}

// The points a layer reads and writes (section 9.2).
struct LayerPoints {
  const QuantParams &hin, &u, &x, &xo, &y, &act, &res;  // xo: x itself unless a static operand
};

// Whether every state update and output of the layer fits 64-bit arithmetic (QLayerConsts::fast),
// from the bounds of their terms given the formats' widths; an output accumulator that cannot
// fit 64 bits at all is refused.
void ssm_bounds(const ModelConfig& mc, const std::string& p, const QTensor& A, const QTensor& B, const QTensor& C,
                const QTensor& D, const LayerPoints& P, QLayerConsts& Ly) {
  const bool s5 = mc.layer == LayerType::S5;
  const size_t H = mc.H, nA = A.size() / 2;
  // |operand| bound: 2^(w-1) signed; below 2^w for an unsigned point's q - zp
  auto mag = [](const QuantParams& q) { return int64_t{1} << (q.format.width - (q.format.is_signed ? 1 : 0)); };
  // the largest operand magnitude of a weight: 2^(w-1) signed, below 2^w for q - zp unsigned
  auto wmag = [](const QTensor& t) {
    int w = 0, shift = 0;
    for (const auto& q : t.params) w = std::max(w, q.format.width - (q.format.is_signed ? 1 : 0));
    if (t.separate_parts)  // times the coarser part's product shift (operands() refuses more than 32 bits)
      for (size_t i = 0; i < t.size(); ++i) shift = std::max(shift, t.part_shift(i));
    return int64_t{1} << std::min(w + shift, 31 + (t.separate_parts ? 0 : 32));
  };
  // the state operand times 2^e: the stored state's bound (block floating point: plus half a step
  // of its rounding, below twice the bound)
  const int64_t xmag = Ly.xop.mode == XOperand::Static   ? mag(P.xo)
                       : Ly.xop.mode == XOperand::Block ? 2 * mag(P.x)
                                                        : mag(P.x);
  const double acc_bound = static_cast<double>(s5 ? nA : nA / H) * 2.0 * static_cast<double>(wmag(C)) *
                           static_cast<double>(xmag);
  if (acc_bound >= 0x1p62)
    throw InputError("quantize: C and x are too wide for the 64-bit output accumulator of " + p +
                     " (C bits + x bits + log2(states) must stay below 62)");
  // u times its block exponent is below twice its format's bound (section 9.3, activation operands)
  const int64_t umag = Ly.u_op.mode == XOperand::Block ? 2 * mag(P.u) : mag(P.u);
  const double bu_bound = static_cast<double>(s5 ? H : 1) * static_cast<double>(wmag(B)) * static_cast<double>(umag);
  Ly.fast = bu_bound < 0x1p62 && 2.0 * static_cast<double>(wmag(A)) * static_cast<double>(xmag) < 0x1p62;
  for (const auto& ss : Ly.xupd) {
    std::vector<int64_t> terms{2 * wmag(A) * xmag, static_cast<int64_t>(bu_bound)};
    if (Ly.delta) terms.push_back(mag(P.x));  // the stored state
    Ly.fast = Ly.fast && ss.fits64(terms);
  }
  for (const auto& ss : Ly.yout)
    Ly.fast = Ly.fast && ss.fits64({static_cast<int64_t>(acc_bound), wmag(D) * umag});
  // the AVX-512 kernel's multiplies: A x's sum, B u, the state and every multiplier in 32 bits
  Ly.narrow32 = Ly.fast && Ly.xop.mode != XOperand::Static &&
                2.0 * static_cast<double>(wmag(A)) * static_cast<double>(xmag) < 0x1p31 && bu_bound < 0x1p31;
  for (const auto& ss : Ly.xupd) {
    const auto& r = ss.range64();
    Ly.narrow32 = Ly.narrow32 && r.lo >= INT32_MIN && r.hi <= INT32_MAX && ss.zero_point() == 0;
    for (int64_t k : ss.K()) Ly.narrow32 = Ly.narrow32 && k >= INT32_MIN && k <= INT32_MAX;
  }
  Ly.block16 = s5 && simd::s5_block_fits(Ly, H, umag, bu_bound);
  Ly.split64 = !s5 && !Ly.fast && simd::s4d_split_fits(Ly, xmag, umag);
  if (!s5) Ly.f64 = simd::s4d_f64_channels(Ly, xmag, umag);
  // the S4D kernel's one-multiply terms: A and B's codes premultiplied by their aligned multipliers
  // (narrower rescale_bits; the 31-bit default rarely fits)
  auto fits32 = [](int64_t v, int64_t k) {
    const __int128 p = static_cast<__int128>(v) * k;
    return p >= INT32_MIN && p <= INT32_MAX;
  };
  Ly.fused32 = Ly.narrow32 && !s5;
  for (size_t h = 0; h < Ly.xupd.size() && Ly.fused32; ++h) {
    const std::vector<int64_t>& K = Ly.xupd[h].aligned64();
    if (Ly.delta) Ly.fused32 = fits32(1, K[2]);
    for (size_t n = h * Ly.states; n < (h + 1) * Ly.states; ++n)
      Ly.fused32 = Ly.fused32 && fits32(Ly.Ar[n], K[0]) && fits32(Ly.Ai[n], K[0]) && fits32(Ly.Br[n], K[1]) &&
                   fits32(Ly.Bi[n], K[1]);
  }
}

// The state operand (section 9.3): as stored, a static narrowing into xo, or block floating point.
void operand_consts(const QModel& m, const LayerPoints& P, QLayerConsts& Ly) {
  const quant::QuantizerSpec& xs = m.precision.spec(quant::Component::x);
  XOperandConsts& op = Ly.xop;
  if (xs.operand_bits == 0) return;
  if (xs.operand_block == 0) {
    op.mode = XOperand::Static;
    op.narrow = rescale(m, {sc(P.x) / sc(P.xo)}, P.xo);
    return;
  }
  op = block_operand(xs);
}

// The SSM's codes (A, B, C split into real and imaginary parts; D), the state update's and the
// output's scaled sums.
void ssm_consts(const QModel& m, const std::string& p, const LayerPoints& P, QLayerConsts& Ly) {
  const ModelConfig& mc = m.config;
  const size_t H = mc.H;
  const bool s5 = mc.layer == LayerType::S5;
  const QTensor &A = m.tensor(p + "A"), &B = m.tensor(p + "B"), &C = m.tensor(p + "C"), &D = m.tensor(p + "D");
  const size_t nA = A.size() / 2;
  const std::vector<int32_t> a = operands(A, p + "A"), b = operands(B, p + "B"), c = operands(C, p + "C");
  for (size_t k = 0; k < nA; ++k) {
    Ly.Ar.push_back(a[2 * k]);
    Ly.Ai.push_back(a[2 * k + 1]);
  }
  for (size_t k = 0; k < B.size() / 2; ++k) {
    Ly.Br.push_back(b[2 * k]);
    Ly.Bi.push_back(b[2 * k + 1]);
  }
  for (size_t k = 0; k < C.size() / 2; ++k) {
    Ly.Cr.push_back(c[2 * k]);
    Ly.Ci.push_back(c[2 * k + 1]);
  }
  Ly.D = operands(D);
  Ly.states = s5 ? nA : nA / H;
  Ly.xupd_per_state = s5;
  Ly.delta = m.precision.spec(quant::Component::A).delta;
  operand_consts(m, P, Ly);
  // the scale of the operand's products: xo's (static), else the stored state's (a block's 2^e is
  // the exact shift of its products)
  const double sxo = Ly.xop.mode == XOperand::Static ? sc(P.xo) : sc(P.x);
  const size_t xch = s5 ? nA : H;  // A and B channels: S5 per state, S4D per channel h
  Ly.xupd = per_channel_sums(
      m, xch,
      [&](size_t ch) {  // delta form: the stored state's ratio is exactly 1
        std::vector<double> r{A.unit(ch) * sxo / sc(P.x), B.unit(ch) * sc(P.u) / sc(P.x)};
        if (Ly.delta) r.push_back(1.0);
        return r;
      },
      P.x);
  const double two = s5 && !mc.conj_sym ? 1.0 : 2.0;
  Ly.yout = per_channel_sums(
      m, H,
      [&](size_t h) {
        return std::vector<double>{two * C.unit(h) * sxo / sc(P.y), sc(D.p(h)) * sc(P.u) / sc(P.y)};
      },
      P.y);
  ssm_bounds(mc, p, A, B, C, D, P, Ly);
}

// The GELU: its lookup table, or the hard form's constants.
void gelu_consts(const QModel& m, const LayerPoints& P, QLayerConsts& Ly) {
  Ly.hard_gelu = m.gelu == QGelu::Hard;
  if (m.gelu == QGelu::Lut) {
    Ly.gelu = quant::Lut(P.y, P.act, [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); });
  } else {
    Ly.hard_two = static_cast<int64_t>(std::nearbyint(2.0 / sc(P.y)));
    Ly.hard_out = rescale(m, {sc(P.y) * sc(P.y) / (4.0 * sc(P.act))}, P.act);
  }
}

// The mixing layer's codes, scaled sums and sigmoid table; returns the point of its output g
// (act itself for `gelu` mixing).
const QuantParams& mixing_consts(const QModel& m, size_t i, const LayerPoints& P, QLayerConsts& Ly) {
  const ModelConfig& mc = m.config;
  const std::string p = layer_name(i) + ".";
  const size_t H = mc.H;
  if (mc.mixing == Mixing::Gelu) return P.act;
  const QTensor& Wm = m.tensor(p + "mix.weight");
  Ly.Wm = operands(Wm);
  Ly.bm = m.tensor(p + "mix.bias").q;
  const QuantParams& mixg = m.point(PointId::mixg, i);
  const QuantParams& gate = m.point(PointId::gate);
  const QuantParams& g = m.point(PointId::g, i);
  if (mc.mixing == Mixing::Glu) {
    const QuantParams& mix = m.point(PointId::mix, i);
    Ly.mix_val = per_channel_sums(
        m, H, [&](size_t o) { return std::vector<double>{sc(Wm.p(o)) * sc(P.act) / sc(mix)}; }, mix);
    Ly.mix_gate = per_channel_sums(
        m, H, [&](size_t o) { return std::vector<double>{sc(Wm.p(H + o)) * sc(P.act) / sc(mixg)}; }, mixg);
    Ly.g_out = rescale(m, {sc(mix) * sc(gate) / sc(g)}, g);
  } else {
    Ly.mix_gate = per_channel_sums(
        m, H, [&](size_t o) { return std::vector<double>{sc(Wm.p(o)) * sc(P.act) / sc(mixg)}; }, mixg);
    const double other = mc.mixing == Mixing::HalfGlu1 ? sc(P.act) : sc(P.y);
    Ly.g_out = rescale(m, {other * sc(gate) / sc(g)}, g);
  }
  Ly.sigmoid = quant::Lut(mixg, gate, [](double v) { return 1.0 / (1.0 + std::exp(-v)); });
  return g;
}

// The normalisation (into u for prenorm, into out for postnorm; none without one): BatchNorm's
// folded scaled sums, or the integer LayerNorm's (section 9.3, Norm).
void norm_consts(const QModel& m, size_t i, const LayerPoints& P, QLayerConsts& Ly) {
  const ModelConfig& mc = m.config;
  const std::string p = layer_name(i) + ".";
  const size_t H = mc.H;
  const bool s5 = mc.layer == LayerType::S5;
  Ly.batch_norm = mc.norm == Norm::Batch;
  const QTensor &gam = m.tensor(p + "norm.scale"), &bet = m.tensor(p + "norm.shift");
  Ly.gamma = operands(gam);
  Ly.beta = operands(bet);
  const QuantParams& nin = mc.prenorm ? P.hin : P.res;
  const QuantParams& nout = mc.prenorm ? P.u : m.point(PointId::out, i);
  if (mc.norm == Norm::Batch) {
    Ly.norm = per_channel_sums(
        m, H,
        [&](size_t f) {
          return std::vector<double>{sc(gam.p(f)) * sc(nin) / sc(nout), sc(bet.p(f)) / sc(nout)};
        },
        nout);
    return;
  }
  const double eps = s5 ? 1e-6 : 1e-5;
  const double Hd = static_cast<double>(H);
  // at least 1, so that v + E is never 0 (a step whose features are all equal)
  Ly.ln_eps =
      static_cast<uint64_t>(std::clamp(std::nearbyint(eps * Hd * Hd * Hd / (sc(nin) * sc(nin))), 1.0, 0x1p62));
  Ly.norm = per_channel_sums(
      m, H,
      [&](size_t f) {
        return std::vector<double>{std::ldexp(sc(gam.p(f)), -kLnFrac) / sc(nout), sc(bet.p(f)) / sc(nout)};
      },
      nout);
}

// Every constant of layer i.
QLayerConsts layer_consts(const QModel& m, size_t i) {
  const ModelConfig& mc = m.config;
  QLayerConsts Ly;
  const std::string p = layer_name(i) + ".";
  Ly.name = layer_name(i);
  Ly.in_point = i == 0 ? point_name(PointId::encoder_out) : point_name(layer_output(mc), i - 1);
  const bool static_op = m.points.count(point_name(PointId::xo, i)) != 0;
  const LayerPoints P{m.point(Ly.in_point),
                      m.point(PointId::u, i),
                      m.point(PointId::x, i),
                      m.point(static_op ? PointId::xo : PointId::x, i),
                      m.point(PointId::y, i),
                      m.point(PointId::act, i),
                      m.point(PointId::res, i)};
  Ly.u_op = block_operand(m.precision.spec(quant::Component::ssm_in));
  Ly.act_op = block_operand(m.precision.spec(quant::Component::gelu_out));
  ssm_consts(m, p, P, Ly);
  if (!mc.norm_in()) Ly.u_in = rescale(m, {sc(P.hin) / sc(P.u)}, P.u);
  gelu_consts(m, P, Ly);
  const QuantParams& g = mixing_consts(m, i, P, Ly);
  Ly.res = rescale(m, {sc(g) / sc(P.res), sc(P.hin) / sc(P.res)}, P.res);
  if (mc.norm != Norm::None) norm_consts(m, i, P, Ly);
  return Ly;
}

}  // namespace

QEngine::QEngine(const QModel& m) : model_(m), impl_(std::make_unique<QConsts>()) {
  const ModelConfig& mc = m.config;
  QConsts& I = *impl_;
  const size_t H = mc.H, nl = mc.n_layers;
  I.input = m.point(PointId::input);
  I.input_op = block_operand(m.precision.spec(quant::Component::input));
  I.pool_op = block_operand(m.precision.spec(quant::Component::pool));
  const QuantParams& enc_out = m.point(PointId::encoder_out);
  const QTensor& We = m.tensor("encoder.weight");
  I.We = operands(We);
  I.be = m.tensor("encoder.bias").q;
  I.enc = per_channel_sums(
      m, H, [&](size_t o) { return std::vector<double>{sc(We.p(o)) * sc(I.input) / sc(enc_out)}; }, enc_out);
  for (size_t i = 0; i < nl; ++i) I.layers.push_back(layer_consts(m, i));
  I.last_point = point_name(layer_output(mc), nl - 1);
  const QTensor& Wd = m.tensor("decoder.weight");
  I.Wd = operands(Wd);
  I.bd = m.tensor("decoder.bias").q;
  const QuantParams& pooled = mc.pooling == Pooling::Mean ? m.point(PointId::pool) : m.point(I.last_point);
  double smin = sc(Wd.p(0));
  for (size_t c = 0; c < Wd.params.size(); ++c) smin = std::min(smin, sc(Wd.p(c)));
  logit_scale_ = smin * sc(pooled);
  I.logit_rescaled = Wd.params.size() > 1;
  if (I.logit_rescaled)
    I.logit = per_channel_sums(
        m, mc.d_output, [&](size_t c) { return std::vector<double>{sc(Wd.p(c)) / smin}; },
        QuantParams{Format::fixed(true, 64, 0), 0, quant::Rounding::HalfEven, quant::Overflow::Saturate});
}

QEngine::~QEngine() = default;

quant::ScaledSum QEngine::mean_pool(size_t L) const {
  const QuantParams& pp = model_.point(PointId::pool);
  return rescale(model_, {sc(model_.point(impl_->last_point)) / (static_cast<double>(L) * sc(pp))}, pp);
}

std::unique_ptr<QWorkspace> QEngine::make_workspace() const { return std::make_unique<QWorkspace>(); }

// ---------------------------------------------------------------------------------------------
// The kernels: matrix-vector products, normalisation, the state updates
// ---------------------------------------------------------------------------------------------

namespace {

// out[t][o] = narrow_o(sum_i W[o][i] in[t][i] + b[o]) for every step and lane
void qlinear(const std::vector<int32_t>& W, const std::vector<int32_t>& b, size_t o0, size_t on,
             const ISeq& in, const std::vector<ScaledSum>& narrow, ISeq& out, const LaneEv& ev) {
  if (simd::dense_avx512(W.data(), b.data(), o0, on, in, narrow.data(), out, ev.p)) return;
  const size_t I = in.F, L = in.L;
  out.reshape(L, on);
  for (size_t t = 0; t < L; ++t)
    for (size_t o = 0; o < on; ++o)
      for (size_t l = 0; l < kLanes; ++l)
        out.at(t, o)[l] = qstep::dot(&W[(o0 + o) * I], b[o0 + o], in.at(t, 0) + l, I, kLanes, narrow[o], ev[l]);
}

void qnorm(const QLayerConsts& Ly, const ISeq& in, ISeq& out, const LaneEv& ev) {
  if (simd::norm_avx512(Ly, in, out, ev.p)) return;
  const size_t L = in.L, H = in.F;
  out.reshape(L, H);
  for (size_t t = 0; t < L; ++t)
    for (size_t l = 0; l < kLanes; ++l)
      qstep::norm(Ly, Ly.gamma.data(), Ly.beta.data(), in.at(t, 0) + l, kLanes, out.at(t, 0) + l, kLanes, H, [&](size_t) { return ev[l]; });
}

// The S4D state update and output accumulation of one layer (section 9.3), every channel, mode,
// step and lane, in 128-bit arithmetic: for formats whose bounds exceed the 64-bit form below.
void s4d_states_wide(const QLayerConsts& Ly, const ISeq& u, size_t H, size_t L, std::vector<int64_t>& yacc,
                     const LaneEv& ex, StateRecord record) {
  const size_t N2 = Ly.states;
  for (size_t hh = 0; hh < H; ++hh)
    for (size_t n = 0; n < N2; ++n) {
      const size_t k = hh * N2 + n;
      const int64_t ar = Ly.Ar[k], ai = Ly.Ai[k], br = Ly.Br[k], bi = Ly.Bi[k], cr = Ly.Cr[k], ci = Ly.Ci[k];
      const ScaledSum& upd = Ly.xupd[hh];
      int64_t xr[kLanes] = {}, xi[kLanes] = {};
      for (size_t t = 0; t < L; ++t) {
        const int32_t* uu = u.at(t, hh);
        int64_t* acc = &yacc[(t * H + hh) * kLanes];
        for (size_t l = 0; l < kLanes; ++l) {
          const qstep::Cx x = qstep::state_update(upd, false, ar, ai, {xr[l], xi[l]}, static_cast<wide_t>(br) * uu[l],
                                                  static_cast<wide_t>(bi) * uu[l], ex[l], {}, {xr[l], xi[l]});
          xr[l] = x.re;
          xi[l] = x.im;
          acc[l] += qstep::output_term(cr, ci, x);
        }
        const size_t at = (k * L + t) * 2 * kLanes;
        if (record)
          for (size_t l = 0; l < kLanes; ++l) {
            record.put(at + l, xr[l]);
            record.put(at + kLanes + l, xi[l]);
          }
      }
    }
}

// The state operands of `n` states of every lane (lane-innermost arrays), after their update
// (section 9.3, "state operand").
void lane_operands(const XOperandConsts& op, const std::vector<int64_t>& xr, const std::vector<int64_t>& xi, size_t k0,
                   size_t n, std::vector<int64_t>& orr, std::vector<int64_t>& oi, std::vector<qstep::Ex>& e,
                   const LaneEv& exo) {
  for (size_t l = 0; l < kLanes; ++l)
    qstep::state_operands(op, &xr[k0 * kLanes + l], &xi[k0 * kLanes + l], n, kLanes, &orr[k0 * kLanes + l],
                          &oi[k0 * kLanes + l], &e[k0 * kLanes + l], exo[l]);
}

// The S4D state update and output accumulation with a narrowed state operand (a static xo or
// block floating point): per channel and step, every mode's update from the previous operands,
// then the new operands (a block's exponent needs all its states), then the output terms.
void s4d_states_operand(const QLayerConsts& Ly, const ISeq& u, size_t H, size_t L, std::vector<int64_t>& yacc,
                        const LaneEv& ex, const LaneEv& exo, StateRecord record) {
  const size_t N2 = Ly.states;
  std::vector<int64_t> xr(N2 * kLanes), xi(N2 * kLanes), orr(N2 * kLanes), oi(N2 * kLanes);
  std::vector<qstep::Ex> e(N2 * kLanes);
  for (size_t hh = 0; hh < H; ++hh) {
    std::fill(orr.begin(), orr.end(), 0);
    std::fill(oi.begin(), oi.end(), 0);
    std::fill(xr.begin(), xr.end(), 0);  // the stored state (read by the delta form)
    std::fill(xi.begin(), xi.end(), 0);
    std::fill(e.begin(), e.end(), qstep::Ex{});
    const ScaledSum& upd = Ly.xupd[hh];
    for (size_t t = 0; t < L; ++t) {
      const int32_t* uu = u.at(t, hh);
      for (size_t n = 0; n < N2; ++n) {
        const size_t k = hh * N2 + n;
        for (size_t l = 0; l < kLanes; ++l) {
          const size_t j = n * kLanes + l;
          const qstep::Cx x = qstep::state_update(upd, Ly.fast, Ly.Ar[k], Ly.Ai[k], {orr[j], oi[j]},
                                                  static_cast<wide_t>(Ly.Br[k]) * uu[l],
                                                  static_cast<wide_t>(Ly.Bi[k]) * uu[l], ex[l], e[j], {xr[j], xi[j]});
          xr[j] = x.re;
          xi[j] = x.im;
        }
      }
      lane_operands(Ly.xop, xr, xi, 0, N2, orr, oi, e, exo);
      int64_t* acc = &yacc[(t * H + hh) * kLanes];
      for (size_t n = 0; n < N2; ++n) {
        const size_t k = hh * N2 + n;
        for (size_t l = 0; l < kLanes; ++l) {
          const size_t j = n * kLanes + l;
          acc[l] += qstep::output_term(Ly.Cr[k], Ly.Ci[k], {orr[j], oi[j]}, e[j]);
        }
      }
      if (record)
        for (size_t n = 0; n < N2; ++n) {
          const size_t at = ((hh * N2 + n) * L + t) * 2 * kLanes;
          for (size_t l = 0; l < kLanes; ++l) {
            record.put(at + l, xr[n * kLanes + l]);
            record.put(at + kLanes + l, xi[n * kLanes + l]);
          }
        }
    }
  }
}

// The S5 state update and output accumulation of one layer (section 9.3): for every step, each
// state's exact B u over the inputs (64-bit where the bounds allow, else 128-bit) and its complex
// update from the previous operands, the new operands, then every output channel's sum over the
// states.
void s5_states(const QLayerConsts& Ly, const ISeq& u, size_t H, size_t L, std::vector<int64_t>& yacc,
               const LaneEv& ex, const LaneEv& exo, int32_t* xrec) {
  const size_t P2 = Ly.states;
  std::vector<int64_t> xr(P2 * kLanes, 0), xi(P2 * kLanes, 0);
  // the operands: the stored state itself unless it is narrowed
  const bool narrowed = Ly.xop.mode != XOperand::Stored;
  std::vector<int64_t> orr(narrowed ? P2 * kLanes : 0), oi(narrowed ? P2 * kLanes : 0);
  std::vector<qstep::Ex> e(P2 * kLanes);
  const std::vector<int64_t>& opr = narrowed ? orr : xr;
  const std::vector<int64_t>& opi = narrowed ? oi : xi;
  for (size_t t = 0; t < L; ++t) {
    for (size_t pp = 0; pp < P2; ++pp) {
      int64_t br64[kLanes] = {}, bi64[kLanes] = {};
      wide_t bur[kLanes] = {}, bui[kLanes] = {};
      for (size_t hh = 0; hh < H; ++hh) {
        const int32_t* uu = u.at(t, hh);
        const int64_t br = Ly.Br[pp * H + hh], bi = Ly.Bi[pp * H + hh];
        if (Ly.fast) {
          for (size_t l = 0; l < kLanes; ++l) {
            br64[l] += br * uu[l];
            bi64[l] += bi * uu[l];
          }
        } else {
          for (size_t l = 0; l < kLanes; ++l) {
            bur[l] += static_cast<wide_t>(br) * uu[l];
            bui[l] += static_cast<wide_t>(bi) * uu[l];
          }
        }
      }
      const int64_t ar = Ly.Ar[pp], ai = Ly.Ai[pp];
      const ScaledSum& upd = Ly.xupd[pp];
      for (size_t l = 0; l < kLanes; ++l) {
        const size_t j = pp * kLanes + l;
        const qstep::Cx o{opr[j], opi[j]};
        const qstep::Cx prev{xr[j], xi[j]};
        const qstep::Cx x = Ly.fast ? qstep::state_update(upd, true, ar, ai, o, br64[l], bi64[l], ex[l], e[j], prev)
                                    : qstep::state_update(upd, false, ar, ai, o, bur[l], bui[l], ex[l], e[j], prev);
        xr[j] = x.re;
        xi[j] = x.im;
        if (xrec) {
          xrec[(t * 2 * P2 + 2 * pp) * kLanes + l] = static_cast<int32_t>(x.re);
          xrec[(t * 2 * P2 + 2 * pp + 1) * kLanes + l] = static_cast<int32_t>(x.im);
        }
      }
    }
    if (narrowed) lane_operands(Ly.xop, xr, xi, 0, P2, orr, oi, e, exo);
    for (size_t hh = 0; hh < H; ++hh) {
      int64_t* acc = &yacc[(t * H + hh) * kLanes];
      for (size_t pp = 0; pp < P2; ++pp) {
        const int64_t cr = Ly.Cr[hh * P2 + pp], ci = Ly.Ci[hh * P2 + pp];
        for (size_t l = 0; l < kLanes; ++l) {
          const size_t j = pp * kLanes + l;
          acc[l] += qstep::output_term(cr, ci, {opr[j], opi[j]}, e[j]);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The steps of one chunk, in the order of section 9.3
// ---------------------------------------------------------------------------------------------

// Where a chunk's saturation events go: a point's counter for the valid lanes, a sink for padding.
struct ChunkEvents {
  const Chunk& chunk;
  quant::SaturationCounters& counters;
  uint64_t sink = 0;
  LaneEv operator()(PointId id, size_t layer = 0) {
    LaneEv e;
    uint64_t* slot = counters.slot(point_name(id, layer));
    for (size_t l = 0; l < kLanes; ++l) e.p[l] = chunk.x[l] ? slot : &sink;
    return e;
  }
};

// Block floating point on a point's values (section 9.3, "activation operands"): every step and
// lane over its F features, when its component narrows them (nothing otherwise).
void narrow_seq(const XOperandConsts& op, ISeq& v, const LaneEv& e) {
  if (op.mode == XOperand::Stored) return;
  for (size_t t = 0; t < v.L; ++t)
    for (size_t l = 0; l < kLanes; ++l) qstep::narrow_activation(op, v.at(t, 0) + l, v.F, kLanes, e[l]);
}

// input: the input quantizer, the one float -> integer step (valid lanes only).
void step_input(const QConsts& I, const Chunk& chunk, size_t Din, ISeq& in, quant::SaturationCounters& counters) {
  const size_t L = chunk.L;
  in.resize(L, Din);
  uint64_t* e = counters.slot(point_name(PointId::input));
  for (size_t l = 0; l < kLanes; ++l) {
    if (!chunk.x[l]) continue;
    for (size_t t = 0; t < L; ++t)
      for (size_t d = 0; d < Din; ++d) in.at(t, d)[l] = qstep::input(I, chunk.x[l][t * Din + d], e);
    if (I.input_op.mode != XOperand::Stored)
      for (size_t t = 0; t < L; ++t) qstep::narrow_activation(I.input_op, in.at(t, 0) + l, Din, kLanes, e);
  }
}

// u: the SSM's input, normalised (prenorm) or rescaled (postnorm, no norm) from the layer input h.
void step_u(const ModelConfig& mc, const QLayerConsts& Ly, const ISeq& h, ISeq& u, const LaneEv& e) {
  if (mc.norm_in()) {
    qnorm(Ly, h, u, e);
  } else {
    u.reshape(h.L, h.F);
    if (!simd::pair_avx512(Ly.u_in, simd::Pair::Scale, h.v.data(), nullptr, 0, u.v.size(), u.v.data(), e.p))
      for (size_t i = 0; i < u.v.size(); ++i) u.v[i] = qstep::u_in(Ly, h.v[i], e[i % kLanes]);
  }
  narrow_seq(Ly.u_op, u, e);
}

// Whether every stored state of an S4D layer fits int16 (its format's range less its zero point).
bool states_fit16(const QLayerConsts& Ly) {
  for (const quant::ScaledSum& s : Ly.xupd) {
    const quant::detail::Range64& r = s.range64();
    if (s.to().width > 16 || r.lo - s.zero_point() < INT16_MIN || r.hi - s.zero_point() > INT16_MAX) return false;
  }
  return !Ly.xupd.empty();
}

// state: the state update of every state and the output accumulators yacc = sum (Cr xr - Ci xi);
// with recording on, every state at every step into ws.layers[li].x (or x16, QWorkspace::record16).
void step_state(const ModelConfig& mc, const QLayerConsts& Ly, size_t li, size_t layers, QWorkspace& ws,
                const LaneEv& ex, const LaneEv& exo) {
  const size_t L = ws.u.L, H = mc.H;
  const bool s5 = mc.layer == LayerType::S5;
  // zeroed for the kernels that add to it (the S5 block-operand kernel writes every accumulator)
  if (s5 && Ly.xop.mode != XOperand::Stored && simd::s5_block_operand_runs(Ly))
    ws.yacc.resize(L * H * kLanes);
  else
    ws.yacc.assign(L * H * kLanes, 0);
  if (ws.record) ws.layers.resize(layers);
  StateRecord rec;
  if (ws.record) {
    auto& R = ws.layers[li];
    const size_t n = L * Ly.states * (s5 ? 1 : H) * 2 * kLanes;  // every entry is written
    if (!s5 && ws.record16 && states_fit16(Ly)) {
      R.x16.resize(n);
      R.x.clear();
      rec.w16 = R.x16.data();
    } else {
      R.x.resize(n);
      R.x16.clear();
      rec.w32 = R.x.data();
    }
  }
  uint64_t lane_events[kLanes] = {};
  uint64_t op_events[kLanes] = {};
  if (s5) {  // a stored state, else a narrowed operand (each kernel declines what it does not do)
    if (!simd::s5_states_avx512(Ly, ws.u, H, L, ws.yacc.data(), lane_events, rec.w32)) {
      if (simd::s5_block_operand_avx512(Ly, ws.u, H, L, ws.yacc.data(), lane_events, op_events, rec.w32))
        for (size_t l = 0; l < kLanes; ++l) *exo[l] += op_events[l];
      else
        s5_states(Ly, ws.u, H, L, ws.yacc, ex, exo, rec.w32);
    }
  } else if (Ly.xop.mode != XOperand::Stored) {  // a narrowed state operand
    if (simd::s4d_block_operand_avx512(Ly, ws.u, H, L, ws.yacc.data(), lane_events, op_events, rec)) {
      for (size_t l = 0; l < kLanes; ++l) *exo[l] += op_events[l];
    } else {
      s4d_states_operand(Ly, ws.u, H, L, ws.yacc, ex, exo, rec);
    }
  } else if (!simd::s4d_states_fast(Ly, ws.u, H, L, ws.yacc.data(), lane_events, rec, ws.channel_threads)) {
    s4d_states_wide(Ly, ws.u, H, L, ws.yacc, ex, rec);
  }
  for (size_t l = 0; l < kLanes; ++l) *ex[l] += lane_events[l];  // zero where a scalar form counted
}

// output: y = SS(acc, D u) per channel.
void step_output(const QLayerConsts& Ly, QWorkspace& ws, const LaneEv& e) {
  const size_t L = ws.u.L, H = ws.u.F;
  if (simd::output_avx512(Ly, ws.yacc.data(), ws.u, ws.y, e.p)) return;
  ws.y.reshape(L, H);
  for (size_t t = 0; t < L; ++t)
    for (size_t hh = 0; hh < H; ++hh) {
      const int32_t* uu = ws.u.at(t, hh);
      int32_t* yy = ws.y.at(t, hh);
      const int64_t* acc = &ws.yacc[(t * H + hh) * kLanes];
      for (size_t l = 0; l < kLanes; ++l)
        yy[l] = static_cast<int32_t>(Ly.fast ? Ly.yout[hh].fast(acc[l], Ly.D[hh] * static_cast<int64_t>(uu[l]), e[l])
                                             : qstep::output(Ly, hh, acc[l], Ly.D[hh], uu[l], e[l]));
    }
}

// GELU: act from y.
void step_gelu(const QLayerConsts& Ly, QWorkspace& ws, const LaneEv& e) {
  ws.act.reshape(ws.y.L, ws.y.F);
  const size_t n = ws.y.v.size();
  if (!(Ly.hard_gelu ? simd::pair_avx512(Ly.hard_out, simd::Pair::HardGelu, ws.y.v.data(), nullptr, Ly.hard_two, n,
                                         ws.act.v.data(), e.p)
                     : simd::lut_avx512(Ly.gelu, ws.y.v.data(), n, ws.act.v.data(), e.p)))
    for (size_t i = 0; i < n; ++i) ws.act.v[i] = qstep::gelu(Ly, ws.y.v[i], e[i % kLanes]);
  narrow_seq(Ly.act_op, ws.act, e);
}

// mixing: the gate's pre-activation, the sigmoid, the GLU's value half and the gated product;
// returns the mixing output g (act itself for `gelu` mixing).
const ISeq* step_mixing(const ModelConfig& mc, const QLayerConsts& Ly, size_t li, QWorkspace& ws, ChunkEvents& ev) {
  if (mc.mixing == Mixing::Gelu) return &ws.act;
  const size_t H = mc.H;
  const size_t gate_o0 = mc.mixing == Mixing::Glu ? H : 0;
  qlinear(Ly.Wm, Ly.bm, gate_o0, H, ws.act, Ly.mix_gate, ws.mixg, ev(PointId::mixg, li));
  ws.gate.reshape(ws.mixg.L, H);
  const LaneEv eg = ev(PointId::gate);
  if (!simd::lut_avx512(Ly.sigmoid, ws.mixg.v.data(), ws.mixg.v.size(), ws.gate.v.data(), eg.p))
    for (size_t i = 0; i < ws.mixg.v.size(); ++i) ws.gate.v[i] = qstep::sigmoid(Ly, ws.mixg.v[i], eg[i % kLanes]);
  const ISeq* other = &ws.act;
  if (mc.mixing == Mixing::Glu) {
    qlinear(Ly.Wm, Ly.bm, 0, H, ws.act, Ly.mix_val, ws.mix, ev(PointId::mix, li));
    other = &ws.mix;
  } else if (mc.mixing == Mixing::HalfGlu2) {
    other = &ws.y;
  }
  ws.g.reshape(ws.mixg.L, H);
  const LaneEv e = ev(PointId::g, li);
  if (!simd::pair_avx512(Ly.g_out, simd::Pair::Product, other->v.data(), ws.gate.v.data(), 0, ws.g.v.size(),
                         ws.g.v.data(), e.p))
    for (size_t i = 0; i < ws.g.v.size(); ++i) ws.g.v[i] = qstep::gated(Ly, other->v[i], ws.gate.v[i], e[i % kLanes]);
  return &ws.g;
}

// residual: res = SS(g, h).
void step_residual(const QLayerConsts& Ly, const ISeq& g, const ISeq& h, ISeq& res, const LaneEv& e) {
  res.reshape(g.L, g.F);
  if (!simd::pair_avx512(Ly.res, simd::Pair::Sum, g.v.data(), h.v.data(), 0, res.v.size(), res.v.data(), e.p))
    for (size_t i = 0; i < res.v.size(); ++i) res.v[i] = qstep::residual(Ly, g.v[i], h.v[i], e[i % kLanes]);
}

// With recording on, the layer's codes for QAT's backward pass: the step buffers are swapped into
// the record (the next layer or chunk overwrites what they then hold), the output copied.
void record_layer(QWorkspace& ws, size_t li, const ISeq& g, const ISeq& out) {
  auto& R = ws.layers[li];
  if (&g == &ws.g)
    std::swap(R.g, ws.g);
  else
    R.g = g;  // the GELU's output itself (gelu mixing)
  std::swap(R.u, ws.u);
  std::swap(R.y, ws.y);
  std::swap(R.act, ws.act);
  std::swap(R.mix, ws.mix);
  std::swap(R.mixg, ws.mixg);
  std::swap(R.res, ws.res);
  R.out = out;
}

// One layer from its input h (section 9.3, "per layer"); returns its output.
const ISeq* run_layer(const ModelConfig& mc, const QConsts& I, size_t li, const ISeq& h, QWorkspace& ws,
                      ChunkEvents& ev) {
  const QLayerConsts& Ly = I.layers[li];
  step_u(mc, Ly, h, ws.u, ev(PointId::u, li));
  // (the operand's counter exists only where the state is narrowed at its multipliers)
  const LaneEv ex = ev(PointId::x, li);
  step_state(mc, Ly, li, I.layers.size(), ws, ex, Ly.xop.mode == XOperand::Stored ? ex : ev(PointId::xo, li));
  step_output(Ly, ws, ev(PointId::y, li));
  step_gelu(Ly, ws, ev(PointId::act, li));
  const ISeq* g = step_mixing(mc, Ly, li, ws, ev);
  step_residual(Ly, *g, h, ws.res, ev(PointId::res, li));
  ISeq& out = ws.layer_out[li];
  if (mc.norm_out())
    qnorm(Ly, ws.res, out, ev(PointId::out, li));
  else
    out = ws.res;
  if (ws.record) record_layer(ws, li, *g, out);
  return &out;
}

// pooling: the mean over the steps (one scaled sum), or the last step.
// `mean` is QEngine::mean_pool(L) for mean pooling.
void step_pool(const ModelConfig& mc, const XOperandConsts& op, const ScaledSum& mean, const ISeq& last, ISeq& pooled,
               ChunkEvents& ev) {
  const size_t L = last.L, H = mc.H;
  pooled.resize(1, H);
  if (mc.pooling == Pooling::Mean) {
    const LaneEv e = ev(PointId::pool);
    for (size_t f = 0; f < H; ++f)
      for (size_t l = 0; l < kLanes; ++l) {
        int64_t s = 0;
        for (size_t t = 0; t < L; ++t) s += last.at(t, f)[l];
        pooled.at(0, f)[l] = static_cast<int32_t>(mean(s, e[l]));
      }
    narrow_seq(op, pooled, e);
  } else {
    for (size_t f = 0; f < H; ++f)
      for (size_t l = 0; l < kLanes; ++l) pooled.at(0, f)[l] = last.at(L - 1, f)[l];
  }
}

// decoder: the exact logits (rescaled per channel where the decoder has channel scales) and the
// prediction, the first index of the largest logit, of every valid lane.
QChunkResult step_decoder(const QConsts& I, size_t Cn, size_t H, const ISeq& pooled, const Chunk& chunk) {
  QChunkResult r;
  std::vector<int64_t> logits(Cn * kLanes);
  for (size_t c = 0; c < Cn; ++c)
    for (size_t l = 0; l < kLanes; ++l) {
      int64_t acc = I.bd[c];
      for (size_t f = 0; f < H; ++f) acc += static_cast<int64_t>(I.Wd[c * H + f]) * pooled.at(0, f)[l];
      logits[c * kLanes + l] = qstep::logit(I, c, acc);
    }
  for (size_t l = 0; l < kLanes; ++l) {
    if (!chunk.x[l]) continue;
    ++r.count;
    size_t arg = 0;
    for (size_t c = 0; c < Cn; ++c) {
      r.logits.push_back(logits[c * kLanes + l]);
      if (logits[c * kLanes + l] > logits[arg * kLanes + l]) arg = c;
    }
    r.predicted.push_back(static_cast<int32_t>(arg));
  }
  return r;
}

}  // namespace

QChunkResult QEngine::run_chunk(const Chunk& chunk, QWorkspace& ws, quant::SaturationCounters& counters) const {
  const QConsts& I = *impl_;
  const ModelConfig& mc = model_.config;
  ChunkEvents ev{chunk, counters};
  step_input(I, chunk, mc.d_input, ws.in, counters);
  qlinear(I.We, I.be, 0, mc.H, ws.in, I.enc, ws.h0, ev(PointId::encoder_out));
  const ISeq* h = &ws.h0;
  ws.layer_out.resize(I.layers.size());
  for (size_t li = 0; li < I.layers.size(); ++li) h = run_layer(mc, I, li, *h, ws, ev);
  step_pool(mc, I.pool_op, mc.pooling == Pooling::Mean ? mean_pool(chunk.L) : ScaledSum(), *h, ws.pooled, ev);
  return step_decoder(I, mc.d_output, mc.H, ws.pooled, chunk);
}
}  // namespace ssmsim::core
