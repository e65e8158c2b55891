#include "ssm_core/qmodel.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <thread>

#include "quant/errors.hpp"
#include "ssm_core/qsteps.hpp"
#include "ssm_core/trainer.hpp"

namespace ssmsim::core {

using quant::Component;
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


}  // namespace

namespace {

std::vector<ScaledSum> per_channel_sums(size_t n, const std::function<std::vector<double>(size_t)>& ratios,
                                        const QuantParams& to) {
  std::vector<ScaledSum> out;
  for (size_t c = 0; c < n; ++c) out.emplace_back(ratios(c), to.format, to.rounding, to.overflow);
  return out;
}

}  // namespace

QEngine::QEngine(const QModel& m) : model_(m), impl_(std::make_unique<QConsts>()) {
  const ModelConfig& mc = m.config;
  QConsts& I = *impl_;
  const size_t H = mc.H, nl = mc.n_layers;
  const bool s5 = mc.layer == LayerType::S5;
  I.input = m.point("input");
  const QuantParams& enc_out = m.point("encoder.out");
  const QTensor& We = m.tensor("encoder.weight");
  I.We = We.q;
  I.be = m.tensor("encoder.bias").q;
  I.enc = per_channel_sums(H, [&](size_t o) { return std::vector<double>{sc(We.p(o)) * sc(I.input) / sc(enc_out)}; },
                           enc_out);
  for (size_t i = 0; i < nl; ++i) {
    QLayerConsts Ly;
    const std::string p = layer_name(i) + ".";
    Ly.name = layer_name(i);
    Ly.in_point = i == 0 ? "encoder.out" : layer_name(i - 1) + (mc.prenorm ? ".res" : ".out");
    const QuantParams &hin = m.point(Ly.in_point), &u = m.point(p + "u"), &x = m.point(p + "x"),
                      &y = m.point(p + "y"), &act = m.point(p + "act"), &res = m.point(p + "res");
    const QTensor &A = m.tensor(p + "A"), &B = m.tensor(p + "B"), &C = m.tensor(p + "C"), &D = m.tensor(p + "D");
    const size_t nA = A.size() / 2;
    for (size_t k = 0; k < nA; ++k) {
      Ly.Ar.push_back(A.q[2 * k]);
      Ly.Ai.push_back(A.q[2 * k + 1]);
    }
    for (size_t k = 0; k < B.size() / 2; ++k) {
      Ly.Br.push_back(B.q[2 * k]);
      Ly.Bi.push_back(B.q[2 * k + 1]);
    }
    for (size_t k = 0; k < C.size() / 2; ++k) {
      Ly.Cr.push_back(C.q[2 * k]);
      Ly.Ci.push_back(C.q[2 * k + 1]);
    }
    Ly.D = D.q;
    Ly.states = s5 ? nA : nA / H;
    Ly.xupd_per_state = s5;
    const size_t xch = s5 ? nA : H;  // A and B channels: S5 per state, S4D per channel h
    Ly.xupd = per_channel_sums(
        xch, [&](size_t c) { return std::vector<double>{sc(A.p(c)), sc(B.p(c)) * sc(u) / sc(x)}; }, x);
    const double two = s5 && !mc.conj_sym ? 1.0 : 2.0;
    Ly.yout = per_channel_sums(
        H, [&](size_t h) { return std::vector<double>{two * sc(C.p(h)) * sc(x) / sc(y), sc(D.p(h)) * sc(u) / sc(y)}; },
        y);
    {
      // bounds of the state update's and the output's terms, from the formats' widths
      auto mag = [](const QuantParams& q) { return int64_t{1} << (q.format.width - 1); };
      auto wmag = [](const QTensor& t) {
        int w = 0;
        for (const auto& q : t.params) w = std::max(w, q.format.width);
        return int64_t{1} << (w - 1);
      };
      const double acc_bound = static_cast<double>(s5 ? nA : nA / H) * 2.0 * static_cast<double>(wmag(C)) *
                               static_cast<double>(mag(x));
      if (acc_bound >= 0x1p62)
        throw InputError("quantize: C and x are too wide for the 64-bit output accumulator of " + p +
                         " (C bits + x bits + log2(states) must stay below 62)");
      const double bu_bound = static_cast<double>(s5 ? H : 1) * static_cast<double>(wmag(B)) * static_cast<double>(mag(u));
      Ly.fast = bu_bound < 0x1p62 && 2.0 * static_cast<double>(wmag(A)) * static_cast<double>(mag(x)) < 0x1p62;
      for (const auto& ss : Ly.xupd)
        Ly.fast = Ly.fast && ss.fits64({2 * wmag(A) * mag(x), static_cast<int64_t>(bu_bound)});
      for (const auto& ss : Ly.yout)
        Ly.fast = Ly.fast && ss.fits64({static_cast<int64_t>(acc_bound), wmag(D) * mag(u)});
    }
    if (!mc.prenorm) Ly.u_in = ScaledSum({sc(hin) / sc(u)}, u.format, u.rounding, u.overflow);
    Ly.hard_gelu = m.gelu == QGelu::Hard;
    Ly.batch_norm = mc.norm == Norm::Batch;
    if (m.gelu == QGelu::Lut) {
      Ly.gelu = quant::Lut(y.format, act, [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); });
    } else {
      Ly.hard_two = static_cast<int64_t>(std::nearbyint(2.0 / sc(y)));
      Ly.hard_out = ScaledSum({sc(y) * sc(y) / (4.0 * sc(act))}, act.format, act.rounding, act.overflow);
    }
    const QuantParams* g = &act;
    if (mc.mixing != Mixing::Gelu) {
      const QTensor& Wm = m.tensor(p + "mix.weight");
      Ly.Wm = Wm.q;
      Ly.bm = m.tensor(p + "mix.bias").q;
      const QuantParams& mixg = m.point(p + "mixg");
      const QuantParams& gate = m.point("gate");
      g = &m.point(p + "g");
      if (mc.mixing == Mixing::Glu) {
        const QuantParams& mix = m.point(p + "mix");
        Ly.mix_val = per_channel_sums(H, [&](size_t o) { return std::vector<double>{sc(Wm.p(o)) * sc(act) / sc(mix)}; }, mix);
        Ly.mix_gate = per_channel_sums(
            H, [&](size_t o) { return std::vector<double>{sc(Wm.p(H + o)) * sc(act) / sc(mixg)}; }, mixg);
        Ly.g_out = ScaledSum({sc(mix) * sc(gate) / sc(*g)}, g->format, g->rounding, g->overflow);
      } else {
        Ly.mix_gate = per_channel_sums(H, [&](size_t o) { return std::vector<double>{sc(Wm.p(o)) * sc(act) / sc(mixg)}; },
                                       mixg);
        const double other = mc.mixing == Mixing::HalfGlu1 ? sc(act) : sc(y);
        Ly.g_out = ScaledSum({other * sc(gate) / sc(*g)}, g->format, g->rounding, g->overflow);
      }
      Ly.sigmoid = quant::Lut(mixg.format, gate, [](double v) { return 1.0 / (1.0 + std::exp(-v)); });
    }
    Ly.res = ScaledSum({sc(*g) / sc(res), sc(hin) / sc(res)}, res.format, res.rounding, res.overflow);
    // normalisation
    const QTensor &gam = m.tensor(p + "norm.scale"), &bet = m.tensor(p + "norm.shift");
    Ly.gamma = gam.q;
    Ly.beta = bet.q;
    const QuantParams& nin = mc.prenorm ? hin : res;
    const QuantParams& nout = mc.prenorm ? u : m.point(p + "out");
    if (mc.norm == Norm::Batch) {
      Ly.norm = per_channel_sums(
          H, [&](size_t f) { return std::vector<double>{sc(gam.p(f)) * sc(nin) / sc(nout), sc(bet.p(f)) / sc(nout)}; },
          nout);
    } else {
      const double eps = s5 ? 1e-6 : 1e-5;
      const double Hd = static_cast<double>(H);
      // at least 1, so that v + E is never 0 (a step whose features are all equal)
      Ly.ln_eps = static_cast<uint64_t>(
          std::clamp(std::nearbyint(eps * Hd * Hd * Hd / (sc(nin) * sc(nin))), 1.0, 0x1p62));
      Ly.norm = per_channel_sums(
          H,
          [&](size_t f) { return std::vector<double>{std::ldexp(sc(gam.p(f)), -kLnFrac) / sc(nout), sc(bet.p(f)) / sc(nout)}; },
          nout);
    }
    I.layers.push_back(std::move(Ly));
  }
  I.last_point = layer_name(nl - 1) + (mc.prenorm ? ".res" : ".out");
  const QTensor& Wd = m.tensor("decoder.weight");
  I.Wd = Wd.q;
  I.bd = m.tensor("decoder.bias").q;
  const QuantParams& pooled = mc.pooling == Pooling::Mean ? m.point("pool") : m.point(I.last_point);
  double smin = sc(Wd.p(0));
  for (size_t c = 0; c < Wd.params.size(); ++c) smin = std::min(smin, sc(Wd.p(c)));
  logit_scale_ = smin * sc(pooled);
  I.logit_rescaled = Wd.params.size() > 1;
  if (I.logit_rescaled)
    I.logit = per_channel_sums(
        mc.d_output, [&](size_t c) { return std::vector<double>{sc(Wd.p(c)) / smin}; },
        QuantParams{Format::fixed(true, 64, 0), 0, quant::Rounding::HalfEven, quant::Overflow::Saturate});
}

QEngine::~QEngine() = default;

quant::ScaledSum QEngine::mean_pool(size_t L) const {
  const QuantParams& pp = model_.point("pool");
  return ScaledSum({sc(model_.point(impl_->last_point)) / (static_cast<double>(L) * sc(pp))}, pp.format, pp.rounding,
                   pp.overflow);
}

std::unique_ptr<QWorkspace> QEngine::make_workspace() const { return std::make_unique<QWorkspace>(); }

namespace {

// out[t][o] = narrow_o(sum_i W[o][i] in[t][i] + b[o]) for every step and lane
void qlinear(const std::vector<int32_t>& W, const std::vector<int32_t>& b, size_t o0, size_t on,
             const ISeq& in, const std::vector<ScaledSum>& narrow, ISeq& out, const LaneEv& ev) {
  const size_t I = in.F, L = in.L;
  out.resize(L, on);
  for (size_t t = 0; t < L; ++t)
    for (size_t o = 0; o < on; ++o)
      for (size_t l = 0; l < kLanes; ++l)
        out.at(t, o)[l] = qstep::dot(&W[(o0 + o) * I], b[o0 + o], in.at(t, 0) + l, I, kLanes, narrow[o], ev[l]);
}

void qnorm(const QLayerConsts& Ly, const ISeq& in, ISeq& out, const LaneEv& ev) {
  const size_t L = in.L, H = in.F;
  out.resize(L, H);
  for (size_t t = 0; t < L; ++t)
    for (size_t l = 0; l < kLanes; ++l)
      qstep::norm(Ly, Ly.gamma.data(), Ly.beta.data(), in.at(t, 0) + l, kLanes, out.at(t, 0) + l, kLanes, H, [&](size_t) { return ev[l]; });
}

// The S4D state update and output accumulation of one layer (section 9.3), every channel, mode,
// step and lane, in 128-bit arithmetic: for formats whose bounds exceed the 64-bit form below.
void s4d_states_wide(const QLayerConsts& Ly, const ISeq& u, size_t H, size_t L, std::vector<int64_t>& yacc,
                     const LaneEv& ex, int32_t* record) {
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
                                                  static_cast<wide_t>(bi) * uu[l], ex[l]);
          xr[l] = x.re;
          xi[l] = x.im;
          acc[l] += qstep::output_term(cr, ci, x);
        }
        if (record) {
          int32_t* rec = record + (k * L + t) * 2 * kLanes;
          for (size_t l = 0; l < kLanes; ++l) {
            rec[l] = static_cast<int32_t>(xr[l]);
            rec[kLanes + l] = static_cast<int32_t>(xi[l]);
          }
        }
      }
    }
}

// round_shift64 (docs/fixed_point.md section 2) for |p| < 2^62 and shift <= 61, written with
// unsigned logical shifts only: p + 2^62 is non-negative and has p's low shift + 1 bits, so
// floor((p + bias) / 2^s) = ((p + 2^62 + bias) >> s) - 2^(62 - s), and the odd bit is bit s of
// p + 2^62. AVX2 has logical but no arithmetic 64-bit shifts: this form vectorises.
[[gnu::always_inline]] inline int64_t shift_offset(int64_t p, const quant::detail::Shift64& k, quant::Rounding R) {
  constexpr uint64_t kOff = uint64_t{1} << 62;
  const uint64_t u = static_cast<uint64_t>(p) + kOff;
  const uint64_t odd = k.mask != 0 ? (u >> k.shift) & 1 : 0;
  const auto bias = quant::detail::rounding_bias<uint64_t>(R, p < 0, odd, static_cast<uint64_t>(k.mask),
                                                           static_cast<uint64_t>(k.below_half),
                                                           static_cast<uint64_t>(k.half));
  return static_cast<int64_t>((u + bias) >> k.shift) - static_cast<int64_t>(kOff >> k.shift);
}

// The 64-bit state update with the rounding and overflow modes as constants: branch-free lanes
// that the compiler vectorises (AVX2 where the CPU has it). Same bits as s4d_states_wide.
template <quant::Rounding R, quant::Overflow O>
SSMSIM_MULTIVERSION void s4d_states_modes(const QLayerConsts& Ly, const ISeq& u, size_t H, size_t L,
                                          std::vector<int64_t>& yacc, uint64_t* events, int32_t* record) {
  // MB modes of a channel advance together: MB independent recurrences per step keep the
  // multipliers busy while each one waits for its previous state
  constexpr size_t MB = 4;
  const size_t N2 = Ly.states;
  for (size_t hh = 0; hh < H; ++hh) {
    const ScaledSum& upd = Ly.xupd[hh];
    const int64_t KA = upd.aligned64()[0], KB = upd.aligned64()[1];
    const quant::detail::Shift64 k = upd.shift64();
    const quant::detail::Range64 rg = upd.range64();
    for (size_t n0 = 0; n0 < N2; n0 += MB) {
      const size_t nb = std::min(MB, N2 - n0);
      int64_t ar[MB] = {}, ai[MB] = {}, br[MB] = {}, bi[MB] = {}, cr[MB] = {}, ci[MB] = {};
      for (size_t j = 0; j < nb; ++j) {
        const size_t m = hh * N2 + n0 + j;
        ar[j] = Ly.Ar[m], ai[j] = Ly.Ai[m], br[j] = Ly.Br[m], bi[j] = Ly.Bi[m], cr[j] = Ly.Cr[m], ci[j] = Ly.Ci[m];
      }
      int64_t xr[MB][kLanes] = {}, xi[MB][kLanes] = {}, ev[kLanes] = {};
      for (size_t t = 0; t < L; ++t) {
        const int32_t* uu = u.at(t, hh);
        int64_t* acc = &yacc[(t * H + hh) * kLanes];
        for (size_t j = 0; j < MB; ++j) {  // padded modes (j >= nb) have zero coefficients
          for (size_t l = 0; l < kLanes; ++l) {
            const int64_t sr = (ar[j] * xr[j][l] - ai[j] * xi[j][l]) * KA + br[j] * KB * uu[l];
            const int64_t si = (ar[j] * xi[j][l] + ai[j] * xr[j][l]) * KA + bi[j] * KB * uu[l];
            int64_t qr = shift_offset(sr, k, R);
            int64_t qi = shift_offset(si, k, R);
            ev[l] += (qr < rg.lo || qr > rg.hi) + (qi < rg.lo || qi > rg.hi);
            if constexpr (O == quant::Overflow::Wrap) {
              qr = rg.wrap(qr);
              qi = rg.wrap(qi);
            } else {
              qr = qr < rg.lo ? rg.lo : qr > rg.hi ? rg.hi : qr;
              qi = qi < rg.lo ? rg.lo : qi > rg.hi ? rg.hi : qi;
            }
            xr[j][l] = qr;
            xi[j][l] = qi;
            acc[l] += cr[j] * qr - ci[j] * qi;
          }
        }
        if (record)
          for (size_t j = 0; j < nb; ++j) {
            int32_t* rec = record + ((hh * N2 + n0 + j) * L + t) * 2 * kLanes;
            for (size_t l = 0; l < kLanes; ++l) {
              rec[l] = static_cast<int32_t>(xr[j][l]);
              rec[kLanes + l] = static_cast<int32_t>(xi[j][l]);
            }
          }
      }
      for (size_t l = 0; l < kLanes; ++l) events[l] += static_cast<uint64_t>(ev[l]);
    }
  }
}

template <quant::Rounding R>
void s4d_states_fast(quant::Overflow o, const QLayerConsts& Ly, const ISeq& u, size_t H, size_t L,
                     std::vector<int64_t>& yacc, uint64_t* events, int32_t* record) {
  switch (o) {
    case quant::Overflow::Wrap: return s4d_states_modes<R, quant::Overflow::Wrap>(Ly, u, H, L, yacc, events, record);
    case quant::Overflow::Saturate:
      return s4d_states_modes<R, quant::Overflow::Saturate>(Ly, u, H, L, yacc, events, record);
    case quant::Overflow::SaturateSymmetric:
      return s4d_states_modes<R, quant::Overflow::SaturateSymmetric>(Ly, u, H, L, yacc, events, record);
  }
}

void s4d_states_fast(const QLayerConsts& Ly, const ISeq& u, size_t H, size_t L, std::vector<int64_t>& yacc,
                     uint64_t* events, int32_t* record) {
  using quant::Rounding;
  const quant::Overflow o = Ly.xupd[0].overflow();
  switch (Ly.xupd[0].rounding()) {
    case Rounding::Floor: return s4d_states_fast<Rounding::Floor>(o, Ly, u, H, L, yacc, events, record);
    case Rounding::TowardZero: return s4d_states_fast<Rounding::TowardZero>(o, Ly, u, H, L, yacc, events, record);
    case Rounding::HalfUp: return s4d_states_fast<Rounding::HalfUp>(o, Ly, u, H, L, yacc, events, record);
    case Rounding::HalfDown: return s4d_states_fast<Rounding::HalfDown>(o, Ly, u, H, L, yacc, events, record);
    case Rounding::HalfEven: return s4d_states_fast<Rounding::HalfEven>(o, Ly, u, H, L, yacc, events, record);
    case Rounding::HalfAway: return s4d_states_fast<Rounding::HalfAway>(o, Ly, u, H, L, yacc, events, record);
    case Rounding::HalfTowardZero:
      return s4d_states_fast<Rounding::HalfTowardZero>(o, Ly, u, H, L, yacc, events, record);
  }
}

}  // namespace

QChunkResult QEngine::run_chunk(const Chunk& chunk, QWorkspace& ws, quant::SaturationCounters& counters) const {
  const QConsts& I = *impl_;
  const ModelConfig& mc = model_.config;
  const size_t L = chunk.L, H = mc.H, Din = mc.d_input, Cn = mc.d_output;
  const bool s5 = mc.layer == LayerType::S5;
  uint64_t sink = 0;
  auto ev = [&](const std::string& name) {
    LaneEv e;
    uint64_t* slot = counters.slot(name);
    for (size_t l = 0; l < kLanes; ++l) e.p[l] = chunk.x[l] ? slot : &sink;
    return e;
  };

  // the input quantizer: the one float -> integer step
  ws.in.resize(L, Din);
  {
    uint64_t* e = counters.slot("input");
    for (size_t l = 0; l < kLanes; ++l) {
      if (!chunk.x[l]) continue;
      for (size_t t = 0; t < L; ++t)
        for (size_t d = 0; d < Din; ++d)
          ws.in.at(t, d)[l] = qstep::input(I, chunk.x[l][t * Din + d], e);
    }
  }
  qlinear(I.We, I.be, 0, H, ws.in, I.enc, ws.h0, ev("encoder.out"));
  const ISeq* h = &ws.h0;
  ws.layer_out.resize(I.layers.size());
  for (size_t li = 0; li < I.layers.size(); ++li) {
    const QLayerConsts& Ly = I.layers[li];
    const std::string p = Ly.name + ".";
    // u: the SSM input
    if (mc.prenorm) {
      qnorm(Ly, *h, ws.u, ev(p + "u"));
    } else {
      ws.u.resize(L, H);
      const LaneEv e = ev(p + "u");
      for (size_t i = 0; i < ws.u.v.size(); ++i) ws.u.v[i] = qstep::u_in(Ly, h->v[i], e[i % kLanes]);
    }
    // the state update and the output accumulation
    ws.yacc.assign(L * H * kLanes, 0);
    const LaneEv ex = ev(p + "x");
    if (ws.record) ws.layers.resize(I.layers.size());
    int32_t* xrec = nullptr;
    if (ws.record) {
      ws.layers[li].x.assign(L * Ly.states * (s5 ? 1 : H) * 2 * kLanes, 0);
      xrec = ws.layers[li].x.data();
    }
    if (!s5) {
      if (Ly.fast) {
        uint64_t lane_events[kLanes] = {};
        s4d_states_fast(Ly, ws.u, H, L, ws.yacc, lane_events, xrec);
        for (size_t l = 0; l < kLanes; ++l) *ex[l] += lane_events[l];
      } else
        s4d_states_wide(Ly, ws.u, H, L, ws.yacc, ex, xrec);
    } else {
      const size_t P2 = Ly.states;
      std::vector<int64_t> xr(P2 * kLanes, 0), xi(P2 * kLanes, 0);
      for (size_t t = 0; t < L; ++t) {
        for (size_t pp = 0; pp < P2; ++pp) {
          // Bu: exact sums (64-bit where the bounds allow, else 128-bit)
          int64_t br64[kLanes] = {}, bi64[kLanes] = {};
          wide_t bur[kLanes] = {}, bui[kLanes] = {};
          for (size_t hh = 0; hh < H; ++hh) {
            const int32_t* uu = ws.u.at(t, hh);
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
            int64_t& r = xr[pp * kLanes + l];
            int64_t& im = xi[pp * kLanes + l];
            const qstep::Cx x = Ly.fast ? qstep::state_update(upd, true, ar, ai, {r, im}, br64[l], bi64[l], ex[l])
                                        : qstep::state_update(upd, false, ar, ai, {r, im}, bur[l], bui[l], ex[l]);
            r = x.re;
            im = x.im;
            if (xrec) {
              xrec[(t * 2 * P2 + 2 * pp) * kLanes + l] = static_cast<int32_t>(r);
              xrec[(t * 2 * P2 + 2 * pp + 1) * kLanes + l] = static_cast<int32_t>(im);
            }
          }
        }
        for (size_t hh = 0; hh < H; ++hh) {
          int64_t* acc = &ws.yacc[(t * H + hh) * kLanes];
          for (size_t pp = 0; pp < P2; ++pp) {
            const int64_t cr = Ly.Cr[hh * P2 + pp], ci = Ly.Ci[hh * P2 + pp];
            for (size_t l = 0; l < kLanes; ++l) acc[l] += qstep::output_term(cr, ci, {xr[pp * kLanes + l], xi[pp * kLanes + l]});
          }
        }
      }
    }
    ws.y.resize(L, H);
    {
      const LaneEv e = ev(p + "y");
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
    // GELU
    ws.act.resize(L, H);
    {
      const LaneEv e = ev(p + "act");
      for (size_t i = 0; i < ws.y.v.size(); ++i) ws.act.v[i] = qstep::gelu(Ly, ws.y.v[i], e[i % kLanes]);
    }
    // mixing
    const ISeq* g = &ws.act;
    if (mc.mixing != Mixing::Gelu) {
      const size_t gate_o0 = mc.mixing == Mixing::Glu ? H : 0;
      qlinear(Ly.Wm, Ly.bm, gate_o0, H, ws.act, Ly.mix_gate, ws.mixg, ev(p + "mixg"));
      ws.gate.resize(L, H);
      const LaneEv eg = ev("gate");
      for (size_t i = 0; i < ws.mixg.v.size(); ++i)
        ws.gate.v[i] = qstep::sigmoid(Ly, ws.mixg.v[i], eg[i % kLanes]);
      const ISeq* other = &ws.act;
      if (mc.mixing == Mixing::Glu) {
        qlinear(Ly.Wm, Ly.bm, 0, H, ws.act, Ly.mix_val, ws.mix, ev(p + "mix"));
        other = &ws.mix;
      } else if (mc.mixing == Mixing::HalfGlu2) {
        other = &ws.y;
      }
      ws.g.resize(L, H);
      const LaneEv e = ev(p + "g");
      for (size_t i = 0; i < ws.g.v.size(); ++i)
        ws.g.v[i] = qstep::gated(Ly, other->v[i], ws.gate.v[i], e[i % kLanes]);
      g = &ws.g;
    }
    // residual, then the post-norm
    ISeq& out = ws.layer_out[li];
    {
      ws.res.resize(L, H);
      const LaneEv e = ev(p + "res");
      for (size_t i = 0; i < ws.res.v.size(); ++i)
        ws.res.v[i] = qstep::residual(Ly, g->v[i], h->v[i], e[i % kLanes]);
    }
    if (mc.prenorm)
      out = ws.res;
    else
      qnorm(Ly, ws.res, out, ev(p + "out"));
    if (ws.record) {
      auto& R = ws.layers[li];
      R.u = ws.u;
      R.y = ws.y;
      R.act = ws.act;
      R.mix = ws.mix;
      R.mixg = ws.mixg;
      R.g = *g;
      R.res = ws.res;
      R.out = out;
    }
    h = &out;
  }
  // pooling and the decoder
  ISeq& pooled = ws.pooled;
  pooled.resize(1, H);
  if (mc.pooling == Pooling::Mean) {
    const ScaledSum pool = mean_pool(L);
    const LaneEv e = ev("pool");
    for (size_t f = 0; f < H; ++f)
      for (size_t l = 0; l < kLanes; ++l) {
        int64_t s = 0;
        for (size_t t = 0; t < L; ++t) s += h->at(t, f)[l];
        pooled.at(0, f)[l] = static_cast<int32_t>(pool(s, e[l]));
      }
  } else {
    for (size_t f = 0; f < H; ++f)
      for (size_t l = 0; l < kLanes; ++l) pooled.at(0, f)[l] = h->at(L - 1, f)[l];
  }
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

QEvalResult evaluate_quantized(const QModel& model, const SequenceSet& set, size_t num_classes, size_t limit,
                               size_t threads) {
  const QEngine engine(model);
  const size_t n = limit ? std::min(limit, set.n) : set.n;
  const size_t nchunks = (n + kLanes - 1) / kLanes;
  if (!threads) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = std::min(threads, std::max<size_t>(nchunks, 1));
  std::vector<QChunkResult> results(nchunks);
  std::vector<quant::SaturationCounters> counters(threads);
  std::vector<std::unique_ptr<QWorkspace>> ws;
  for (size_t w = 0; w < threads; ++w) ws.push_back(engine.make_workspace());
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = i;
  parallel_for(nchunks, threads, [&](size_t c, size_t w) {
    const size_t begin = c * kLanes;
    results[c] = engine.run_chunk(make_chunk(set, &idx[begin], std::min(kLanes, n - begin)), *ws[w], counters[w]);
  });
  QEvalResult r;
  r.count = n;
  r.confusion.assign(num_classes * num_classes, 0);
  size_t correct = 0;
  for (size_t c = 0; c < nchunks; ++c)
    for (size_t l = 0; l < results[c].predicted.size(); ++l) {
      const int32_t p = results[c].predicted[l];
      const int32_t y = set.labels[c * kLanes + l];
      r.predicted.push_back(p);
      correct += p == y;
      if (y >= 0 && static_cast<size_t>(y) < num_classes && p >= 0 && static_cast<size_t>(p) < num_classes)
        ++r.confusion[static_cast<size_t>(y) * num_classes + static_cast<size_t>(p)];
    }
  for (const auto& c : counters) r.saturation.merge(c);
  r.accuracy = n ? static_cast<double>(correct) / static_cast<double>(n) : 0;
  return r;
}

}  // namespace ssmsim::core
