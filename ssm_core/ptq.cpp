#include "ssm_core/qmodel.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "quant/errors.hpp"

namespace ssmsim::core {

using quant::Component;
using quant::Format;
using quant::QuantParams;
using quant::ScaledSum;
using quant::wide_t;

namespace {

// ---------- the float model's tensors, by the reference names ----------

struct FloatView {
  const Model& model;
  const std::vector<float>& params;
  std::vector<double> get(const std::string& name) const {
    const ParamInfo& info = model.layout().find(name);
    return std::vector<double>(params.begin() + static_cast<long>(info.offset),
                               params.begin() + static_cast<long>(info.offset + info.size));
  }
};

// The mixing layer's weight [O, H] and bias [O] under either naming.
void mixing_weights(const FloatView& v, size_t i, std::vector<double>& W, std::vector<double>& b) {
  const ModelConfig& c = v.model.config();
  const std::string s = std::to_string(i);
  if (c.layer == LayerType::S4D) {
    W = v.get("s4_layers." + s + ".output_linear.0.weight");
    b = v.get("s4_layers." + s + ".output_linear.0.bias");
    return;
  }
  if (c.mixing == Mixing::Glu) {  // [out1; out2]
    W = v.get("layers." + s + ".out1.weight");
    auto w2 = v.get("layers." + s + ".out2.weight");
    W.insert(W.end(), w2.begin(), w2.end());
    b = v.get("layers." + s + ".out1.bias");
    auto b2 = v.get("layers." + s + ".out2.bias");
    b.insert(b.end(), b2.begin(), b2.end());
  } else {
    W = v.get("layers." + s + ".out2.weight");
    b = v.get("layers." + s + ".out2.bias");
  }
}

std::string norm_prefix(const ModelConfig& c, size_t i) {
  return c.layer == LayerType::S4D ? "norms." + std::to_string(i) + "." : layer_name(i) + ".norm.";
}

// A fixed binary point (`frac`) without saturation must hold the calibrated range: wrapping the
// data's own values is never what a precision config means.
void check_fits(const quant::QuantizerSpec& spec, const QuantParams& p, double lo, double hi, const std::string& name,
                Component c) {
  if (!spec.frac || spec.overflow != quant::Overflow::Wrap) return;
  if (lo < p.real_min() || hi > p.real_max())
    throw InputError("quantize: '" + name + "' (component " + quant::component_name(c) + ") ranges over [" +
                     std::to_string(lo) + ", " + std::to_string(hi) + "], which format " + p.format.to_string() +
                     " (frac " + std::to_string(*spec.frac) + ") cannot hold with overflow wrap; give it fewer fraction "
                     "bits, more bits, or overflow: saturate");
}

// ---------- calibration statistics per point ----------

class PointStats {
 public:
  void add(double v) {
    lo_ = std::min(lo_, v);
    hi_ = std::max(hi_, v);
    ++seen_;
    if (sample_.size() < kCap) {
      sample_.push_back(v);
    } else {  // reservoir sampling (Algorithm R), seeded: deterministic
      const uint64_t j = rng_() % seen_;
      if (j < kCap) sample_[j] = v;
    }
  }
  // The point's format by its component's spec (the point table's row, never its name).
  QuantParams calibrate(const quant::PrecisionConfig& prec, const std::string& name) const {
    return calibrate(prec.spec(component_), name);
  }
  QuantParams calibrate(const quant::QuantizerSpec& spec, const std::string& name) const {
    if (seen_ == 0) throw InputError("quantize: no calibration values reached point '" + name + "'");
    const QuantParams p = spec.calibration == quant::Calibration::MaxAbs || spec.frac
                              ? quant::params_from_range(spec, lo_, hi_)
                              : quant::calibrate(spec, sample_)[0];
    check_fits(spec, p, lo_, hi_, name, component_);
    return p;
  }
  PointStats(PointId id, uint64_t seed) : component_(point_info(id).component), rng_(seed) {}

 private:
  Component component_;
  static constexpr size_t kCap = size_t{1} << 20;
  double lo_ = 0, hi_ = 0;
  uint64_t seen_ = 0;
  std::vector<double> sample_;
  std::mt19937_64 rng_;
};

template <typename T>
void add_seq(PointStats& s, const Seq<T>& x, const bool* valid, size_t f0 = 0, size_t nf = 0) {
  if (nf == 0) nf = x.F - f0;
  for (size_t t = 0; t < x.L; ++t)
    for (size_t f = f0; f < f0 + nf; ++f)
      for (size_t l = 0; l < kLanes; ++l)
        if (valid[l]) s.add(static_cast<double>(x.at(t, f)[l]));
}

QuantParams gate_params(const quant::PrecisionConfig& prec) {
  // the sigmoid's output in [0, 1]: unsigned, its component's bits, one integer bit (1.0 is a code)
  QuantParams p;
  const int bits = prec.spec(point_info(PointId::gate).component).bits;
  p.format = Format::fixed(false, bits, bits - 1);
  p.rounding = quant::Rounding::HalfEven;
  p.overflow = quant::Overflow::Saturate;
  return p;
}

void require_supported(const quant::PrecisionConfig& prec) {
  for (const Component c : quant::all_components()) {
    if (prec.is_float(c))
      throw InputError("quantize: the integer model needs every component quantized, and '" +
                       quant::component_name(c) + "' is float in precision config '" + prec.name() +
                       "'; give it bits (or use `default: quantized`)");
    const auto& s = prec.spec(c);
    const auto kind = quant::component_kind(c);
    if (kind != quant::ComponentKind::Weight && kind != quant::ComponentKind::Bias &&
        s.granularity == quant::Granularity::PerChannel)
      throw InputError("quantize: '" + quant::component_name(c) +
                       "' is per_channel; activations and the state take one format per tensor");
  }
  // the table's max_integer_bits: the components whose points feed lookup tables
  std::string limited;
  bool over = false;
  for (const quant::ComponentInfo& row : quant::kComponents) {
    if (row.max_integer_bits >= 32) continue;
    limited += (limited.empty() ? "" : " and ") + std::string(row.name);
    over = over || prec.spec(row.id).bits > row.max_integer_bits;
  }
  if (over) throw InputError("quantize: " + limited + " feed lookup tables and must be at most 16 bits");
  if (prec.spec(Component::gate).bits < 2)
    throw InputError("quantize: the sigmoid gate needs at least 2 bits (one integer bit holds 1.0)");
}

}  // namespace

QGelu resolve_gelu(QGelu option, const quant::PrecisionConfig& prec) {
  if (option != QGelu::Precision) return option;
  return prec.gelu() == "hard" ? QGelu::Hard : QGelu::Lut;
}

// ---------- weights ----------

// Separate parts (docs/fixed_point.md 9.2): per channel (or tensor), the real and the imaginary
// values are calibrated as two groups. A part whose values are all 0 takes the other part's
// format. The real part (which carries a pole's decay) keeps its scale r; the imaginary part's
// scale becomes r 2^k with k the smallest integer in [-(30 - b), 30 - b] such that r 2^k is not
// below its calibrated scale (the real format with its shift lowered by k): nothing clips, and
// |k| <= 30 - b keeps every operand (q - zp) 2^shift within 32 bits. When even k = 30 - b falls
// short, the real part gives way: its scale becomes the imaginary one's times 2^-(30 - b). A part
// whose scale changed has its zero point, the real offset zp * s of its calibration, re-rounded to
// the new scale (half even) within 0..2^b - 1.
void quantize_parts(const std::vector<double>& data, const quant::QuantizerSpec& spec, size_t channels, QTensor& t) {
  const size_t per = data.size() / channels, n = per / 2;
  const int64_t qmax = (int64_t{1} << spec.bits) - 1;
  const int kmax = std::max(0, 30 - spec.bits);  // from 30 bits on both parts share one scale
  t.separate_parts = true;
  t.q.resize(data.size());
  auto rescale = [&](QuantParams& p, const Format& to) {
    if (p.zero_point != 0)
      p.zero_point = std::clamp<int64_t>(
          static_cast<int64_t>(std::nearbyint(static_cast<double>(p.zero_point) * p.scale() / to.scale.real())), 0, qmax);
    p.format = to;
  };
  for (size_t g = 0; g < channels; ++g) {
    QuantParams pp[2];
    bool zero[2];
    std::vector<double> v(n);
    for (int r = 0; r < 2; ++r) {
      zero[r] = true;
      for (size_t j = 0; j < n; ++j) {
        v[j] = data[g * per + 2 * j + r];
        zero[r] = zero[r] && v[j] == 0.0;
      }
      pp[r] = quant::calibrate(spec, v.data(), 1, n, {})[0];
    }
    for (int r = 0; r < 2; ++r)
      if (zero[r] && !zero[1 - r]) pp[r] = pp[1 - r], pp[r].zero_point = 0;  // 0 is code 0 - 0
    QuantParams &re = pp[0], &im = pp[1];
    int k = -kmax;
    while (k < kmax && std::ldexp(re.scale(), k) < im.scale()) ++k;
    const Format rf = re.format, imf = im.format;
    if (std::ldexp(rf.scale.real(), k) >= imf.scale.real())
      rescale(im, Format::dyadic(imf.is_signed, imf.width, rf.scale.mult, rf.scale.shift - k));
    else  // the ratio needs more than 2^kmax: the real part gives way
      rescale(re, Format::dyadic(rf.is_signed, rf.width, imf.scale.mult, imf.scale.shift + kmax));
    for (int r = 0; r < 2; ++r) {
      t.params.push_back(pp[r]);
      for (size_t j = 0; j < n; ++j) {
        const double x = data[g * per + 2 * j + r];
        t.q[g * per + 2 * j + r] = static_cast<int32_t>(quant::quantize(x, pp[r], &t.saturated));
      }
    }
  }
}

QTensor quantize_tensor(const std::vector<double>& data, std::vector<int64_t> shape, Component c,
                        const quant::PrecisionConfig& prec) {
  QTensor t;
  t.component = c;
  t.shape = std::move(shape);
  const auto& spec = prec.spec(c);
  const size_t channels = spec.granularity == quant::Granularity::PerChannel ? static_cast<size_t>(t.shape[0]) : 1;
  const auto [lo, hi] = std::minmax_element(data.begin(), data.end());
  if (spec.separate_parts) {
    quantize_parts(data, spec, channels, t);
    for (const auto& p : t.params) check_fits(spec, p, *lo, *hi, quant::component_name(c), c);
    return t;
  }
  // the tensor's shape orders quantile_nearest's reductions (the interleaved (re, im) pair last)
  const std::vector<size_t> dims(t.shape.begin(), t.shape.end());
  t.params = quant::calibrate(spec, data.data(), channels, data.size() / channels, dims);
  for (const auto& p : t.params) check_fits(spec, p, *lo, *hi, quant::component_name(c), c);
  std::vector<int64_t> q(data.size());
  quant::quantize(t.params, data.data(), channels, data.size() / channels, q.data(), &t.saturated);
  t.q.assign(q.begin(), q.end());
  return t;
}

// The stored format's scale is the accumulator scale to 31 bits (for display only).
QTensor quantize_bias(const std::vector<double>& b, const QTensor& weight, const QuantParams& in,
                      const quant::PrecisionConfig& prec) {
  QTensor t;
  t.component = Component::bias;
  t.shape = {static_cast<int64_t>(b.size())};
  const auto& spec = prec.spec(Component::bias);
  const double hi = std::ldexp(1.0, spec.bits - 1) - 1;
  for (size_t o = 0; o < b.size(); ++o) {
    const double acc_scale = weight.p(weight.params.size() == 1 ? 0 : o).scale() * in.scale();
    const auto r = quant::Rescale::approximate(acc_scale, 31);
    QuantParams p;
    p.format = Format::dyadic(true, spec.bits, r.num, r.shift);
    p.rounding = quant::Rounding::HalfEven;
    p.overflow = quant::Overflow::Saturate;
    const double code = std::nearbyint(b[o] / acc_scale);
    if (code < -hi - 1 || code > hi) ++t.saturated;
    t.q.push_back(static_cast<int32_t>(std::clamp(code, -hi - 1, hi)));
    t.params.push_back(p);
  }
  return t;
}

std::string saturation_warning(const std::string& name, const QTensor& t, const quant::PrecisionConfig& prec) {
  if (t.saturated == 0) return {};
  const std::string comp = quant::component_name(t.component);
  const auto& spec = prec.spec(t.component);
  std::string fix = "give it more bits (precision.components." + comp + ".bits)";
  if (t.component == Component::bias)
    fix += "; a bias is at accumulator scale, where 32 bits is the usual choice";
  else if (spec.calibration == quant::Calibration::Percentile || spec.calibration == quant::Calibration::Mse)
    fix += ", or a calibration that does not clip (its '" + quant::to_string(spec.calibration) + "' clips by design)";
  return "warning: " + std::to_string(t.saturated) + " of " + std::to_string(t.size()) + " codes of '" + name +
         "' (component " + comp + ", " + std::to_string(spec.bits) + " bits) saturated when quantized; " + fix;
}

// ======================= PTQ =======================

namespace {

// Every point's statistics, created in datapath order: each is seeded by its creation index.
class CalibStats {
 public:
  explicit CalibStats(uint64_t seed) : seed_(seed) {}
  PointStats& operator()(PointId id, size_t layer = 0) {
    const std::string name = point_name(id, layer);
    auto it = stats_.find(name);
    if (it == stats_.end()) it = stats_.emplace(name, PointStats(id, seed_ + stats_.size())).first;
    return it->second;
  }
  const std::map<std::string, PointStats>& all() const { return stats_; }

 private:
  uint64_t seed_;
  std::map<std::string, PointStats> stats_;
};

// The static state operand's format (docs/fixed_point.md 9.3): the state's values calibrated by the
// state's spec at operand_bits bits. Nothing for a stored-state operand or a block-scaled one.
void calibrate_operand(const quant::PrecisionConfig& prec, const PointStats& xs, size_t layer,
                       std::map<std::string, std::vector<QuantParams>>& points) {
  const quant::QuantizerSpec& x = prec.spec(Component::x);
  if (x.operand_bits == 0 || x.operand_block != 0) return;
  quant::QuantizerSpec op = x;
  op.bits = x.operand_bits;
  op.operand_bits = op.operand_block = 0;
  op.frac.reset();
  const std::string name = point_name(PointId::xo, layer);
  points[name] = {xs.calibrate(op, name)};
}

// One calibration chunk's values at every point of the float model (section 9.4).
void add_chunk(const ModelConfig& mc, const Workspace<float>& ws, size_t L, const bool* valid, CalibStats& st) {
  const size_t H = mc.H;
  add_seq(st(PointId::input), ws.input, valid);
  add_seq(st(PointId::encoder_out), ws.x0, valid);
  for (size_t i = 0; i < mc.n_layers; ++i) {
    const auto& W = ws.layers[i];
    const Seq<float>& h = i == 0 ? ws.x0 : ws.layers[i - 1].out;
    add_seq(st(PointId::u, i), mc.norm_in() ? W.z : h, valid);
    if (mc.layer == LayerType::S5) {
      add_seq(st(PointId::x, i), W.xs, valid);
    } else {
      PointStats& xs = st(PointId::x, i);
      for (size_t m = 0; m < H * (mc.N / 2); ++m)
        for (size_t t = 0; t < L; ++t)
          for (size_t l = 0; l < kLanes; ++l)
            if (valid[l]) {
              xs.add(W.states[(m * L + t) * 2 * kLanes + l]);
              xs.add(W.states[(m * L + t) * 2 * kLanes + kLanes + l]);
            }
    }
    add_seq(st(PointId::y, i), W.y, valid);
    add_seq(st(PointId::act, i), W.act, valid);
    if (mc.mixing == Mixing::Glu) {
      add_seq(st(PointId::mix, i), W.m, valid, 0, H);
      add_seq(st(PointId::mixg, i), W.m, valid, H, H);
    } else if (mc.mixing != Mixing::Gelu) {
      add_seq(st(PointId::mixg, i), W.m, valid);
    }
    if (mc.mixing != Mixing::Gelu) add_seq(st(PointId::g, i), W.g, valid);
    add_seq(st(PointId::res, i), W.r, valid);
    if (mc.norm_out()) add_seq(st(PointId::out, i), W.out, valid);
  }
  if (mc.pooling == Pooling::Mean) {
    for (size_t f = 0; f < H; ++f)
      for (size_t l = 0; l < kLanes; ++l)
        if (valid[l]) st(PointId::pool).add(ws.pooled_v[f * kLanes + l]);
  }
}

// The activation and state formats from the float model on the first n calibration sequences.
std::map<std::string, std::vector<QuantParams>> calibrate_points(const FloatCheckpoint& ck,
                                                                 const quant::PrecisionConfig& prec,
                                                                 const SequenceSet& calib_set, size_t n,
                                                                 uint64_t seed) {
  const Model model(ck.config);
  CalibStats st(seed);
  Model::Prepared<float> prep;
  model.prepare(ck.params.data(), prep);
  auto ws = make_workspace<float>();
  for (size_t begin = 0; begin < n; begin += kLanes) {
    Chunk ch;
    ch.L = calib_set.length;
    bool valid[kLanes] = {};
    for (size_t l = 0; l < kLanes && begin + l < n; ++l) {
      ch.x[l] = calib_set.input(begin + l);
      ch.label[l] = calib_set.labels.empty() ? 0 : calib_set.labels[begin + l];
      valid[l] = true;
    }
    model.run_chunk(ck.params.data(), prep, ch, 0, static_cast<float*>(nullptr), *ws);
    add_chunk(ck.config, *ws, ch.L, valid, st);
  }
  std::map<std::string, std::vector<QuantParams>> points;
  for (const auto& [name, s] : st.all()) points[name] = {s.calibrate(prec, name)};
  points[point_name(PointId::gate)] = {gate_params(prec)};
  for (size_t i = 0; i < ck.config.n_layers; ++i) calibrate_operand(prec, st(PointId::x, i), i, points);
  return points;
}

// quantize.integer_states: layer by layer, the state's range as the integer model produces it
// (quantized A, B and u). The layer's state point is widened (64x the float range, 31 bits), the
// calibration sequences run through the engine, and the state format is calibrated on the
// recorded codes; the weights are then quantized again with it.
void calibrate_integer_states(QModel& w, const FloatCheckpoint& ck, const quant::PrecisionConfig& prec,
                              const SequenceSet& calib_set, size_t n, const PtqOptions& opt) {
  for (size_t i = 0; i < ck.config.n_layers; ++i) {
    const std::string xp = point_name(PointId::x, i);
    const QuantParams narrow_x = w.points[xp][0];
    QModel wide = w;
    const auto M = std::max(std::abs(narrow_x.real_min()), std::abs(narrow_x.real_max()));
    quant::QuantizerSpec wide_spec;
    wide_spec.bits = 31;
    wide_spec.scale = quant::ScaleKind::Dyadic;
    wide.points[xp] = {quant::params_from_range(wide_spec, -64 * M, 64 * M)};
    const QEngine engine(wide);
    auto qws = engine.make_workspace();
    qws->record = true;
    quant::SaturationCounters sat;
    PointStats xs(PointId::x, opt.seed + 7919 * (i + 1));
    const double s = wide.points[xp][0].scale();
    for (size_t begin = 0; begin < n; begin += kLanes) {
      Chunk ch;
      ch.L = calib_set.length;
      for (size_t l = 0; l < kLanes && begin + l < n; ++l) ch.x[l] = calib_set.input(begin + l);
      engine.run_chunk(ch, *qws, sat);
      const auto& rec = qws->layers[i].x;  // lanes innermost in every layout
      for (size_t k = 0; k < rec.size(); ++k)
        if (ch.x[k % kLanes]) xs.add(static_cast<double>(rec[k]) * s);
    }
    w.points[xp] = {xs.calibrate(prec, xp)};
    calibrate_operand(prec, xs, i, w.points);
    w = quantize_weights(ck.config, ck.params, prec, w.points, opt.gelu, nullptr, opt.stable_a);
  }
}

}  // namespace

QModel quantize_ptq(const FloatCheckpoint& ck, const quant::PrecisionConfig& prec, const SequenceSet& calib_set,
                    const PtqOptions& opt) {
  prec.validate();
  require_supported(prec);
  if (ck.config.pooling == Pooling::Last && prec.spec(Component::pool).operand_bits != 0)
    throw InputError("quantize: the pool component narrows an operand (operand_bits), but model '" + ck.config.name +
                     "' pools its last step: it has no pooled point (the decoder reads the residual stream); drop "
                     "pool's operand_bits");
  if (ck.config.task != Task::Classify)
    throw InputError("quantize: regression models are not supported by the integer model yet");
  const size_t n = std::min(opt.calib, calib_set.n);
  if (n == 0) throw InputError("quantize: no calibration sequences (quantize.calib must be >= 1)");
  const auto points = calibrate_points(ck, prec, calib_set, n, opt.seed);
  QModel w = quantize_weights(ck.config, ck.params, prec, points, opt.gelu, nullptr, opt.stable_a);
  if (opt.integer_states) calibrate_integer_states(w, ck, prec, calib_set, n, opt);
  w.metadata["quantize.stable_a"] = opt.stable_a ? "true" : "false";
  w.metadata["quantize.integer_states"] = opt.integer_states ? "true" : "false";
  w.metadata["calib.sequences"] = std::to_string(n);
  w.metadata["calib.length"] = std::to_string(calib_set.length);
  return w;
}

namespace {

// A layer's discretized A and B, its C and D in double, interleaved (re, im), with their shapes
// (docs/fixed_point.md 9.2).
struct SsmCoeffs {
  std::vector<double> A, B, C, D;
  std::vector<int64_t> sa, sb, sc;
};

SsmCoeffs ssm_coeffs(const ModelConfig& mc, const Model::Prepared<double>& pr, size_t i) {
  SsmCoeffs k;
  const size_t H = mc.H;
  const auto Hs = static_cast<int64_t>(H);
  if (mc.layer == LayerType::S5) {
    const S5Coeffs<double>& kd = pr.s5[i];
    const size_t P2 = kd.P2;
    const double s = mc.conj_sym ? 2.0 : 1.0;
    for (size_t m = 0; m < P2; ++m) {
      k.A.push_back(kd.Lr[m]);
      k.A.push_back(kd.Li[m]);
    }
    for (size_t m = 0; m < P2; ++m)
      for (size_t h = 0; h < H; ++h) {
        k.B.push_back(kd.Wb[(2 * m) * H + h]);
        k.B.push_back(kd.Wb[(2 * m + 1) * H + h]);
      }
    for (size_t h = 0; h < H; ++h)
      for (size_t m = 0; m < P2; ++m) {  // C_tilde = Wc / s, Wc = [s Re C, -s Im C]
        k.C.push_back(kd.Wc[h * 2 * P2 + 2 * m] / s);
        k.C.push_back(-kd.Wc[h * 2 * P2 + 2 * m + 1] / s);
      }
    k.D.assign(kd.D.begin(), kd.D.end());
    const auto P = static_cast<int64_t>(P2);
    k.sa = {P, 2};
    k.sb = {P, Hs, 2};
    k.sc = {Hs, P, 2};
    return k;
  }
  const S4DCoeffs<double>& kd = pr.s4d[i];
  for (size_t m = 0; m < H * kd.N2; ++m) {
    k.A.push_back(kd.Lr[m]);
    k.A.push_back(kd.Li[m]);
    k.B.push_back(kd.Br[m]);
    k.B.push_back(kd.Bi[m]);
    k.C.push_back(kd.Cr[m]);
    k.C.push_back(kd.Ci[m]);
  }
  k.D.assign(kd.D.begin(), kd.D.end());
  const auto N2 = static_cast<int64_t>(kd.N2);
  k.sa = k.sb = k.sc = {Hs, N2, 2};
  return k;
}

// quantize.stable_a: while |code * scale| >= 1, move the larger part one code toward zero;
// decided exactly: (re^2 + im^2) mult^2 >= 2^(2 shift). Returns the number of moves.
size_t stabilise_a(QTensor& t) {
  const size_t states = t.size() / 2, per = states / t.channels();
  size_t changed = 0;
  for (size_t k = 0; k < states; ++k) {
    const Format& f = t.p(t.params.size() == 1 ? 0 : k / per).format;
    int32_t& re = t.q[2 * k];
    int32_t& im = t.q[2 * k + 1];
    auto unstable = [&] {  // exact in 128 bits: the product is below 2^125
      const wide_t n = (static_cast<wide_t>(re) * re + static_cast<wide_t>(im) * im) * f.scale.mult * f.scale.mult;
      if (n == 0) return false;
      if (f.scale.shift <= 0) return true;  // one unit is >= 1
      if (2 * f.scale.shift >= 126) return false;
      return n >= (static_cast<wide_t>(1) << (2 * f.scale.shift));
    };
    while (unstable()) {
      int32_t& big = std::abs(re) >= std::abs(im) ? re : im;
      big += big > 0 ? -1 : 1;
      ++changed;
    }
  }
  return changed;
}

// quantize.stable_a on A in delta form (docs/fixed_point.md 9.3): Lambda_bar = R + i I with
// R = 1 + a u, I = b u, a and b the operands (q - zp) 2^part_shift of a state's real and imaginary
// parts in its channel's unit u = mult 2^-shift. While |Lambda_bar| >= 1, i.e. 2 a + (a^2 + b^2) u
// >= 0, the part with the larger of |R| and |I| moves one code toward Lambda_bar = 0 (as stabilise_a
// does in direct form: a slow pole's real code moves down, a faster decay), the other part when
// that code is at the end of its range. Decided exactly in 128 bits (operands within 32 bits,
// mult within 31). Returns the number of moves.
size_t stabilise_delta_a(QTensor& t) {
  const size_t states = t.size() / 2, per = states / t.channels();
  size_t changed = 0;
  for (size_t k = 0; k < states; ++k) {
    const Format& unit = t.unit_params(k / per).format;
    const wide_t M = unit.scale.mult;
    const int S = unit.scale.shift;
    int32_t& re = t.q[2 * k];
    int32_t& im = t.q[2 * k + 1];
    auto unstable = [&] {
      const wide_t a = t.operand(2 * k), b = t.operand(2 * k + 1);
      if (a >= 0) return true;                               // |R| >= 1 already
      const wide_t q = (a * a + b * b) * M, two_a = -2 * a;  // unstable: q 2^-S >= two_a
      if (S >= 0) return S < 94 && q >= (two_a << S);        // two_a < 2^33: the shift fits
      return q >= two_a || (-S < 64 && (q << -S) >= two_a);  // here q < 2^33
    };
    auto real_larger = [&] {  // |R| >= |I|
      const wide_t a = t.operand(2 * k), b = t.operand(2 * k + 1);
      if (S >= 0) {  // |2^S + a M| >= |b M|; |a M|, |b M| < 2^63
        if (S >= 100) return true;
        const wide_t r = (wide_t{1} << S) + a * M;
        return (r < 0 ? -r : r) >= (b < 0 ? -b : b) * M;
      }
      const int n = -S;  // |1 + a M 2^n| >= |b M 2^n|
      if (n < 62) {
        const wide_t p2 = wide_t{1} << n, r = 1 + a * M * p2, i = b * M * p2;  // below 2^125
        return (r < 0 ? -r : r) >= (i < 0 ? -i : i);
      }
      const wide_t aa = a < 0 ? -a : a, bb = b < 0 ? -b : b;  // the 1 decides only ties
      return aa != bb ? aa > bb : a >= 0;
    };
    auto toward = [](int32_t& code, const QuantParams& p, int dir) {  // one code, if in range
      if (dir == 0 || code + dir < p.qmin() || code + dir > p.qmax()) return false;
      code += dir;
      return true;
    };
    const QuantParams &pre = t.params[t.param_index(2 * k)], &pim = t.params[t.param_index(2 * k + 1)];
    while (unstable()) {
      const wide_t a = t.operand(2 * k), b = t.operand(2 * k + 1);
      // R > 0 exactly when 2^S + a M > 0 (S >= 0), i.e. a u > -1; the real code moves toward
      // R = 0, the imaginary one toward its zero point
      const bool r_pos = S >= 0 ? (S >= 100 || (wide_t{1} << S) + a * M > 0) : (a >= 0);
      const int dre = r_pos ? -1 : 1, dim = b > 0 ? -1 : b < 0 ? 1 : 0;
      const bool moved = real_larger() ? (toward(re, pre, dre) || toward(im, pim, dim))
                                       : (toward(im, pim, dim) || toward(re, pre, dre));
      if (!moved) break;  // both codes at the ends of their ranges
      ++changed;
    }
  }
  return changed;
}

// The normalisation's scale and shift: LayerNorm gamma / beta, or BatchNorm folded to a
// per-channel scale and shift.
void norm_tensors(const FloatView& view, size_t i, const quant::PrecisionConfig& prec, QModel& q) {
  const ModelConfig& mc = view.model.config();
  if (mc.norm == Norm::None) return;
  const size_t H = mc.H;
  const auto Hs = static_cast<int64_t>(H);
  const std::string p = layer_name(i) + ".";
  const std::string np = norm_prefix(mc, i);
  std::vector<double> g = view.get(np + "weight"), b = view.get(np + "bias");
  if (mc.norm == Norm::Batch) {
    const auto rm = view.get(np + "running_mean"), rv = view.get(np + "running_var");
    for (size_t f = 0; f < H; ++f) {
      const double a = g[f] / std::sqrt(rv[f] + 1e-5);
      b[f] -= rm[f] * a;
      g[f] = a;
    }
  }
  q.tensors[p + "norm.scale"] = quantize_tensor(g, {Hs}, Component::norm, prec);
  q.tensors[p + "norm.shift"] = quantize_tensor(b, {Hs}, Component::norm, prec);
}

// Layer i's tensors: A, B, C, D, the mixing weight and bias, the normalisation.
void layer_tensors(const FloatView& view, const Model::Prepared<double>& pr, size_t i,
                   const quant::PrecisionConfig& prec, const std::vector<CoeffOverride>* coeffs, bool stable_a,
                   QModel& q) {
  const ModelConfig& mc = view.model.config();
  const std::string p = layer_name(i) + ".";
  const auto Hs = static_cast<int64_t>(mc.H);
  SsmCoeffs k = ssm_coeffs(mc, pr, i);
  if (coeffs) {  // learned directly (QAT's discrete and polar parameterisations)
    if ((*coeffs)[i].A.size() != k.A.size() || (*coeffs)[i].B.size() != k.B.size())
      throw std::logic_error("quantize_weights: coefficient override of the wrong size");
    k.A = (*coeffs)[i].A;
    k.B = (*coeffs)[i].B;
  }
  const auto& aspec = prec.spec(Component::A);
  if (stable_a) check_stable_a(prec, "quantize: quantize.stable_a");
  if (aspec.delta)  // delta form: A is stored as Lambda_bar - 1
    for (size_t j = 0; j < k.A.size(); j += 2) k.A[j] -= 1.0;
  q.tensors[p + "A"] = quantize_tensor(k.A, k.sa, Component::A, prec);
  if (stable_a) {
    QTensor& A = q.tensors[p + "A"];
    q.metadata["quantize.stable_a." + p + "A"] = std::to_string(aspec.delta ? stabilise_delta_a(A) : stabilise_a(A));
  }
  q.tensors[p + "B"] = quantize_tensor(k.B, k.sb, Component::B, prec);
  q.tensors[p + "C"] = quantize_tensor(k.C, k.sc, Component::C, prec);
  q.tensors[p + "D"] = quantize_tensor(k.D, {Hs}, Component::D, prec);
  if (mc.mixing != Mixing::Gelu) {
    std::vector<double> W, b;
    mixing_weights(view, i, W, b);
    const auto O = static_cast<int64_t>(b.size());
    q.tensors[p + "mix.weight"] = quantize_tensor(W, {O, Hs}, Component::mixing, prec);
    q.tensors[p + "mix.bias"] =
        quantize_bias(b, q.tensors[p + "mix.weight"], q.points[point_name(PointId::act, i)][0], prec);
  }
  norm_tensors(view, i, prec, q);
}

}  // namespace

void check_stable_a(const quant::PrecisionConfig& prec, const std::string& who) {
  const auto& aspec = prec.spec(Component::A);
  if (!aspec.delta && aspec.separate_parts)
    throw InputError(who +
                     " moves A's codes inside the unit circle with one shared scale per channel, or in delta "
                     "form; it does not apply to A stored directly with separate parts: drop one of them, or "
                     "store A in delta form (form: delta)");
}

QModel quantize_weights(const ModelConfig& mc, const std::vector<float>& params, const quant::PrecisionConfig& prec,
                        const std::map<std::string, std::vector<QuantParams>>& points, QGelu gelu,
                        const std::vector<CoeffOverride>* coeffs, bool stable_a) {
  const Model model(mc);
  const FloatView view{model, params};
  QModel q;
  q.config = mc;
  q.precision = prec;
  q.gelu = resolve_gelu(gelu, prec);
  q.points = points;
  const size_t H = mc.H, nl = mc.n_layers;
  // the discretized coefficients in double, for the quantizers
  const std::vector<double> pd(params.begin(), params.end());
  Model::Prepared<double> pr;
  model.prepare(pd.data(), pr);

  q.tensors["encoder.weight"] = quantize_tensor(view.get("encoder.weight"),
                                                {static_cast<int64_t>(H), static_cast<int64_t>(mc.d_input)},
                                                Component::encoder, prec);
  q.tensors["encoder.bias"] = quantize_bias(view.get("encoder.bias"), q.tensors["encoder.weight"],
                                            q.points[point_name(PointId::input)][0], prec);
  for (size_t i = 0; i < nl; ++i) layer_tensors(view, pr, i, prec, coeffs, stable_a, q);
  const auto C = static_cast<int64_t>(mc.d_output);
  q.tensors["decoder.weight"] =
      quantize_tensor(view.get("decoder.weight"), {C, static_cast<int64_t>(H)}, Component::decoder, prec);
  const QuantParams& pooled = mc.pooling == Pooling::Mean
                                  ? q.points[point_name(PointId::pool)][0]
                                  : q.points[point_name(layer_output(mc), nl - 1)][0];
  q.tensors["decoder.bias"] = quantize_bias(view.get("decoder.bias"), q.tensors["decoder.weight"], pooled, prec);
  return q;
}

}  // namespace ssmsim::core
