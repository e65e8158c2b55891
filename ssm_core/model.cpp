#include "ssm_core/model.hpp"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <random>
#include <stdexcept>

#include "quant/errors.hpp"
#include "quant/keys.hpp"
#include "quant/yaml_value.hpp"
#include "ssm_core/layers.hpp"
#include "ssm_core/random.hpp"

namespace ssmsim::core {


template <typename T>
std::unique_ptr<Workspace<T>> make_workspace() {
  return std::make_unique<Workspace<T>>();
}
template std::unique_ptr<Workspace<float>> make_workspace<float>();
template std::unique_ptr<Workspace<double>> make_workspace<double>();


const keys::Table<ModelConfig>& ModelConfig::keys() {
  using M = ModelConfig;
  static const auto t =
      keys::Table<M>("model")
          .text("name", &M::name, "the preset's name")
          .choice("layer", &M::layer, {{"s4d", LayerType::S4D}, {"s5", LayerType::S5}}, "the SSM layer")
          .integer("d_input", &M::d_input, 0, 4096, "features", "input features per step; 0: from the workload")
          .integer("d_output", &M::d_output, 0, 4096, "features",
                   "classes (classify) or output features (regress); 0: from the workload")
          .integer("H", &M::H, 1, 4096, "channels", "model width")
          .integer(
              "N", &M::N, 2, 4096, "states", "S4D state size per channel (N/2 complex modes)",
              [](size_t n) { return n % 2 ? std::string("an even state size (N/2 complex modes)") : std::string(); })
          .integer("n_layers", &M::n_layers, 1, 64, "layers", "SSM blocks")
          .boolean("prenorm", &M::prenorm, "normalise before the SSM (else after the residual)")
          .choice("norm", &M::norm, {{"layer", Norm::Layer}, {"batch", Norm::Batch}, {"none", Norm::None}},
                  "LayerNorm, BatchNorm, or none")
          .boolean("norm_bias", &M::norm_bias, "the norm learns a shift (false: it stays zero, as Q-S5's LN* models)")
          .choice("mixing", &M::mixing,
                  {{"glu", Mixing::Glu},
                   {"half_glu1", Mixing::HalfGlu1},
                   {"half_glu2", Mixing::HalfGlu2},
                   {"gelu", Mixing::Gelu}},
                  "the block's output mixing after the SSM")
          .real("dropout", &M::dropout, 0.0, 0.9, "", "channel dropout in training")
          .choice("pooling", &M::pooling, {{"mean", Pooling::Mean}, {"last", Pooling::Last}}, "pooling over time")
          .choice("task", &M::task, {{"classify", Task::Classify}, {"regress", Task::Regress}},
                  "class logits after pooling, or forecasting of the last steps")
          .integer("target_length", &M::target_length, 0, 1000000, "steps",
                   "regress: scored steps at the end; 0: from the workload")
          .choice("discretization", &M::discretization,
                  {{"zoh", Discretization::Zoh}, {"bilinear", Discretization::Bilinear}}, "continuous to discrete")
          .choice("init", &M::init, {{"lin", S4DInit::Lin}, {"inv", S4DInit::Inv}}, "S4D initialisation of A")
          .real("dt_min", &M::dt_min, 1e-6, 10.0, "", "smallest initial step")
          .real("dt_max", &M::dt_max, 1e-6, 10.0, "", "largest initial step")
          .integer("P", &M::P, 1, 8192, "states", "S5 state size (P/2 stored with conjugate symmetry)")
          .integer("J", &M::J, 1, 4096, "blocks", "S5: HiPPO-LegS blocks of P/J states")
          .boolean("conj_sym", &M::conj_sym, "S5: store half the states (conjugate symmetry)")
          .real("step_rescale", &M::step_rescale, 1e-6, 1e6, "", "S5: step = step_rescale * exp(log_step)")
          .choice("C_init", &M::C_init,
                  {{"trunc_standard_normal", S5CInit::TruncStandardNormal},
                   {"lecun_normal", S5CInit::LecunNormal},
                   {"complex_normal", S5CInit::ComplexNormal}},
                  "S5 initialisation of C")
          .rule([](const M& c, const std::string& prefix) {
            if (c.dt_min > c.dt_max)
              throw ConfigError(prefix + ".dt_min", std::to_string(c.dt_min), "dt_min must not exceed dt_max");
            if (c.layer != LayerType::S5) return;
            // the reference's blocks: P/J states each, of which half are stored with conjugate symmetry
            if (c.P % c.J != 0)
              throw ConfigError(prefix + ".J", std::to_string(c.J),
                                "a divisor of P = " + std::to_string(c.P) + " (J blocks of P/J states)");
            if (c.conj_sym && (c.P / c.J) % 2 != 0)
              throw ConfigError(prefix + ".P", std::to_string(c.P),
                                "with conj_sym, P/J (= " + std::to_string(c.P / c.J) + ") must be even");
          });
  return t;
}

ModelConfig ModelConfig::from_yaml(const YAML::Node& node, const std::string& prefix) {
  return keys().read(node, prefix);
}

YAML::Node ModelConfig::to_yaml() const { return keys().write(*this); }

void ModelConfig::write_metadata(std::map<std::string, std::string>& metadata) const {
  YAML::Node n = to_yaml();
  if (norm_bias) n.remove("norm_bias");
  for (const auto& kv : n) metadata["model." + kv.first.as<std::string>()] = kv.second.as<std::string>();
}

ModelConfig ModelConfig::read_metadata(const std::map<std::string, std::string>& metadata, std::string* key) {
  YAML::Node node(YAML::NodeType::Map);
  for (const auto& [k, v] : metadata)
    if (k.rfind("model.", 0) == 0) {
      if (key) *key = k;
      node[k.substr(6)] = parse_config_yaml(v, "__metadata__ " + k, "model metadata");
    }
  if (key) *key = "model.*";
  return from_yaml(node, "__metadata__ model");
}

Model::Model(const ModelConfig& config) : config_(config) {
  if (config_.d_input == 0 || config_.d_output == 0)
    throw InputError("model '" + config_.name + "': d_input and d_output must be set (from the workload)");
  const auto H = static_cast<int64_t>(config_.H);
  const bool s5 = config_.layer == LayerType::S5;
  // S5 models take the lindermanlab optimiser split (opt_config "standard"): Lambda, B, log_step
  // and the norms in the SSM group (Adam, no weight decay), everything else, biases included, AdamW.
  const ParamGroup bias_group = s5 ? ParamGroup::Regular : ParamGroup::NoDecay;
  const ParamGroup norm_bias_group = config_.norm_bias ? ParamGroup::Ssm : ParamGroup::Buffer;
  enc_w_ = layout_.add("encoder.weight", {H, static_cast<int64_t>(config_.d_input)}, ParamGroup::Regular);
  enc_b_ = layout_.add("encoder.bias", {H}, bias_group);
  for (size_t i = 0; i < config_.n_layers && s5; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    LayerOffsets lo;
    lo.s5 = s5_register(layout_, p + "seq.", config_.H, config_.conj_sym ? config_.P / 2 : config_.P);
    if (config_.mixing == Mixing::Glu) {
      // out1(a) * sigmoid(out2(a)) is GLU([out1; out2] a): the two weights and the two biases are
      // registered back to back so that they form the [2H, H] matrix and the [2H] bias
      lo.mix_w = layout_.add(p + "out1.weight", {H, H}, ParamGroup::Regular);
      layout_.add(p + "out2.weight", {H, H}, ParamGroup::Regular);
      lo.mix_b = layout_.add(p + "out1.bias", {H}, ParamGroup::Regular);
      layout_.add(p + "out2.bias", {H}, ParamGroup::Regular);
    } else if (config_.mixing != Mixing::Gelu) {
      lo.mix_w = layout_.add(p + "out2.weight", {H, H}, ParamGroup::Regular);
      lo.mix_b = layout_.add(p + "out2.bias", {H}, ParamGroup::Regular);
    }
    if (config_.norm != Norm::None) {
      lo.norm_w = layout_.add(p + "norm.weight", {H}, ParamGroup::Ssm);
      lo.norm_b = layout_.add(p + "norm.bias", {H}, norm_bias_group);
    }
    if (config_.norm == Norm::Batch) {
      lo.run_mean = layout_.add(p + "norm.running_mean", {H}, ParamGroup::Buffer);
      lo.run_var = layout_.add(p + "norm.running_var", {H}, ParamGroup::Buffer);
    }
    layers_.push_back(lo);
  }
  for (size_t i = 0; i < config_.n_layers && !s5; ++i) {
    const std::string p = "s4_layers." + std::to_string(i) + ".";
    LayerOffsets lo;
    lo.ssm = s4d_register(layout_, p, config_.H, config_.N / 2);
    if (config_.mixing == Mixing::Glu) {
      lo.mix_w = layout_.add(p + "output_linear.0.weight", {2 * H, H, 1}, ParamGroup::Regular);
      lo.mix_b = layout_.add(p + "output_linear.0.bias", {2 * H}, ParamGroup::NoDecay);
    } else if (config_.mixing != Mixing::Gelu) {
      lo.mix_w = layout_.add(p + "output_linear.0.weight", {H, H, 1}, ParamGroup::Regular);
      lo.mix_b = layout_.add(p + "output_linear.0.bias", {H}, ParamGroup::NoDecay);
    }
    const std::string n = "norms." + std::to_string(i) + ".";
    if (config_.norm != Norm::None) {
      lo.norm_w = layout_.add(n + "weight", {H}, ParamGroup::NoDecay);
      lo.norm_b = layout_.add(n + "bias", {H}, config_.norm_bias ? ParamGroup::NoDecay : ParamGroup::Buffer);
    }
    if (config_.norm == Norm::Batch) {
      lo.run_mean = layout_.add(n + "running_mean", {H}, ParamGroup::Buffer);
      lo.run_var = layout_.add(n + "running_var", {H}, ParamGroup::Buffer);
    }
    layers_.push_back(lo);
  }
  dec_w_ = layout_.add("decoder.weight", {static_cast<int64_t>(config_.d_output), H}, ParamGroup::Regular);
  dec_b_ = layout_.add("decoder.bias", {static_cast<int64_t>(config_.d_output)}, bias_group);
}

Model::~Model() = default;

std::vector<double> Model::init(uint64_t seed) const {
  std::vector<double> p(layout_.total(), 0.0);
  std::mt19937_64 rng(seed);
  const bool s5 = config_.layer == LayerType::S5;
  // nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias; for S5 models
  // flax's nn.Dense default: lecun_normal weight (truncated normal, variance 1/fan_in), zero bias
  auto linear = [&](size_t w, size_t b, size_t out, size_t in) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    if (s5) {
      const double scale = std::sqrt(1.0 / static_cast<double>(in)) / 0.87962566103423978;
      for (size_t i = 0; i < out * in; ++i) {
        double z = normal(rng);
        while (z < -2.0 || z > 2.0) z = normal(rng);
        p[w + i] = z * scale;
      }
      return;
    }
    for (size_t i = 0; i < out * in; ++i) p[w + i] = (2 * uniform01(rng) - 1) * bound;
    for (size_t i = 0; i < out; ++i) p[b + i] = (2 * uniform01(rng) - 1) * bound;
  };
  const size_t H = config_.H;
  linear(enc_w_, enc_b_, H, config_.d_input);
  for (const auto& lo : layers_) {
    if (s5)
      s5_init(lo.s5, config_.P, config_.J, config_.conj_sym, config_.C_init, config_.dt_min, config_.dt_max,
              rng, p.data());
    else
      s4d_init(lo.ssm, config_.init, config_.dt_min, config_.dt_max, rng, p.data());
    if (config_.mixing == Mixing::Glu) linear(lo.mix_w, lo.mix_b, 2 * H, H);
    else if (config_.mixing != Mixing::Gelu) linear(lo.mix_w, lo.mix_b, H, H);
    if (config_.norm != Norm::None)
      for (size_t i = 0; i < H; ++i) p[lo.norm_w + i] = 1.0;
    if (config_.norm == Norm::Batch)
      for (size_t i = 0; i < H; ++i) p[lo.run_var + i] = 1.0;
  }
  linear(dec_w_, dec_b_, config_.d_output, H);
  return p;
}

S5Options Model::s5_options() const {
  S5Options o;
  o.discretization = config_.discretization;
  o.conj_sym = config_.conj_sym;
  o.step_rescale = config_.step_rescale;
  return o;
}

template <typename T>
void Model::prepare(const T* params, Prepared<T>& out) const {
  if (config_.layer == LayerType::S5) {
    out.s5.resize(layers_.size());
    for (size_t i = 0; i < layers_.size(); ++i) s5_discretize(layers_[i].s5, params, s5_options(), out.s5[i]);
    return;
  }
  out.s4d.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i)
    s4d_discretize(layers_[i].ssm, params, config_.discretization, out.s4d[i]);
}

template <typename T>
void Model::prepare_conv(const T* params, size_t L, Prepared<T>& out) const {
  if (config_.layer != LayerType::S4D)
    throw InputError("the convolution mode is an S4D path; model '" + config_.name + "' is an S5 model");
  prepare(params, out);
  const std::vector<double> p(params, params + layout_.total());
  out.conv.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    S4DCoeffs<double> k;
    s4d_discretize(layers_[i].ssm, p.data(), config_.discretization, k);
    out.conv[i] = s4d_spectrum(k, L);
  }
}

namespace {

template <typename T>
void add_into(Seq<T>& dst, const Seq<T>& src) {
  for (size_t i = 0; i < dst.v.size(); ++i) dst.v[i] += src.v[i];
}

template <typename T>
void dropout_mask(std::vector<T>& mask, size_t F, double p, std::mt19937_64& rng) {
  mask.assign(F * kLanes, T(1));
  if (p <= 0) return;
  const T keep = static_cast<T>(1.0 / (1.0 - p));
  for (auto& m : mask) m = uniform01(rng) < p ? T(0) : keep;
}

}  // namespace

template <typename T>
void Model::norm_forward(const LayerOffsets& lo, const T* P, bool training, const bool* valid,
                         const Seq<T>& in, Seq<T>& out, std::vector<T>& mean, std::vector<T>& var,
                         std::vector<T>& rstd) const {
  if (config_.norm == Norm::Batch) {
    batchnorm_forward(P + lo.norm_w, P + lo.norm_b, training ? nullptr : P + lo.run_mean,
                      training ? nullptr : P + lo.run_var, in, valid, out, mean, var, rstd, T(1e-5));
    return;
  }
  // flax's LayerNorm (the S5 reference) uses epsilon 1e-6, torch's 1e-5
  const T eps = config_.layer == LayerType::S5 ? T(1e-6) : T(1e-5);
  layernorm_forward(P + lo.norm_w, P + lo.norm_b, in, out, mean, rstd, eps);
}

template <typename T>
void Model::norm_backward(const LayerOffsets& lo, const T* P, bool training, const bool* valid,
                          const Seq<T>& in, const std::vector<T>& mean, const std::vector<T>& rstd,
                          const Seq<T>& gout, T* grad, Seq<T>& gin) const {
  if (config_.norm == Norm::Batch)
    batchnorm_backward(P + lo.norm_w, in, valid, !training, mean, rstd, gout, grad + lo.norm_w,
                       grad + lo.norm_b, gin);
  else
    layernorm_backward(P + lo.norm_w, in, mean, rstd, gout, grad + lo.norm_w, grad + lo.norm_b, gin);
}

template <typename T>
void Model::refresh_norm_stats(const T* P, const Chunk& chunk, Workspace<T>& ws) const {
  bool valid[kLanes];
  for (size_t l = 0; l < kLanes; ++l) valid[l] = chunk.x[l] != nullptr;
  Seq<T> tmp;
  for (size_t i = 0; i < layers_.size(); ++i) {
    auto& W = ws.layers[i];
    if (config_.norm_in()) {
      const Seq<T>& xin = i == 0 ? ws.x0 : ws.layers[i - 1].out;
      norm_forward(layers_[i], P, false, valid, xin, tmp, W.mean_in, W.var_in, W.rstd_in);
    } else if (config_.norm_out()) {
      norm_forward(layers_[i], P, false, valid, W.r, tmp, W.mean_out, W.var_out, W.rstd_out);
    }
  }
}
template void Model::refresh_norm_stats<float>(const float*, const Chunk&, Workspace<float>&) const;
template void Model::refresh_norm_stats<double>(const double*, const Chunk&, Workspace<double>&) const;

void Model::update_norm_stats(const ChunkResult* results, size_t n, float* params, double momentum) const {
  if (config_.norm != Norm::Batch) return;
  const size_t H = config_.H;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerOffsets& lo = layers_[i];
    for (size_t f = 0; f < H; ++f) {
      // pooled over the chunks: mean of the means, mean of (variance + squared offset)
      double count = 0, sum = 0;
      for (size_t c = 0; c < n; ++c) {
        count += static_cast<double>(results[c].norm_count);
        sum += static_cast<double>(results[c].norm_count) * results[c].norm_stats[i * 2 * H + f];
      }
      if (count < 2) continue;
      const double mu = sum / count;
      double ss = 0;
      for (size_t c = 0; c < n; ++c) {
        const double m = results[c].norm_stats[i * 2 * H + f], v = results[c].norm_stats[i * 2 * H + H + f];
        ss += static_cast<double>(results[c].norm_count) * (v + (m - mu) * (m - mu));
      }
      const double unbiased = ss / (count - 1);
      float& rm = params[lo.run_mean + f];
      float& rv = params[lo.run_var + f];
      rm = static_cast<float>((1 - momentum) * rm + momentum * mu);
      rv = static_cast<float>((1 - momentum) * rv + momentum * unbiased);
    }
  }
}

template <typename T>
ChunkResult Model::run_chunk(const T* P, const Prepared<T>& prep, const Chunk& chunk,
                             uint64_t dropout_seed, T* grad, Workspace<T>& ws) const {
  const size_t L = chunk.L, H = config_.H, Din = config_.d_input, C = config_.d_output;
  const bool train = dropout_seed != 0 && config_.dropout > 0;
  const bool s5 = config_.layer == LayerType::S5;
  // flax's LayerNorm (the S5 reference) uses epsilon 1e-6, torch's 1e-5
  const bool training = dropout_seed != 0;
  std::mt19937_64 rng(dropout_seed);
  bool valid[kLanes];
  for (size_t l = 0; l < kLanes; ++l) valid[l] = chunk.x[l] != nullptr;

  ws.input.resize(L, Din);
  for (size_t l = 0; l < kLanes; ++l) {
    if (!chunk.x[l]) continue;
    for (size_t t = 0; t < L; ++t)
      for (size_t d = 0; d < Din; ++d) ws.input.at(t, d)[l] = static_cast<T>(chunk.x[l][t * Din + d]);
  }
  linear_forward(P + enc_w_, P + enc_b_, H, ws.input, ws.x0);

  ws.layers.resize(layers_.size());
  const Seq<T>* x = &ws.x0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerOffsets& lo = layers_[i];
    auto& W = ws.layers[i];
    const Seq<T>* z = x;
    if (config_.norm_in()) {
      norm_forward(lo, P, training, valid, *x, W.z, W.mean_in, W.var_in, W.rstd_in);
      z = &W.z;
    }
    W.state_codes = nullptr;  // the backward pass reads this forward's states
    W.state_codes16 = nullptr;
    if (s5)
      s5_forward(prep.s5[i], *z, W.y, W.xs);
    else if (!prep.conv.empty() && !grad)
      s4d_conv_forward(prep.s4d[i], prep.conv[i], *z, W.y);
    else if (!prep.conv.empty())
      throw std::logic_error("run_chunk: the convolution mode has no backward pass");
    else
      s4d_forward(prep.s4d[i], *z, W.y, W.states);
    gelu_forward(W.y, W.act);
    if (train) {
      dropout_mask(W.drop1, H, config_.dropout, rng);
      dropout_apply(W.drop1, W.act);
    }
    switch (config_.mixing) {
      case Mixing::Glu:
        linear_forward(P + lo.mix_w, P + lo.mix_b, 2 * H, W.act, W.m);
        glu_forward(W.m, W.g);
        break;
      case Mixing::HalfGlu1:
        linear_forward(P + lo.mix_w, P + lo.mix_b, H, W.act, W.m);
        gate_forward(W.act, W.m, W.g);
        break;
      case Mixing::HalfGlu2:
        linear_forward(P + lo.mix_w, P + lo.mix_b, H, W.act, W.m);
        gate_forward(W.y, W.m, W.g);
        break;
      case Mixing::Gelu: W.g = W.act; break;
    }
    if (train) {
      dropout_mask(W.drop2, H, config_.dropout, rng);
      dropout_apply(W.drop2, W.g);
    }
    W.r = W.g;
    add_into(W.r, *x);
    if (config_.norm_out())
      norm_forward(lo, P, training, valid, W.r, W.out, W.mean_out, W.var_out, W.rstd_out);
    else
      W.out = W.r;
    x = &W.out;
  }

  ChunkResult res;
  if (config_.norm == Norm::Batch && training) {
    for (const auto& W : ws.layers) {
      const auto& mean = config_.prenorm ? W.mean_in : W.mean_out;
      const auto& var = config_.prenorm ? W.var_in : W.var_out;
      res.norm_stats.insert(res.norm_stats.end(), mean.begin(), mean.end());
      res.norm_stats.insert(res.norm_stats.end(), var.begin(), var.end());
    }
    for (size_t l = 0; l < kLanes; ++l) res.norm_count += valid[l] ? L : 0;
  }
  const bool regress = config_.task == Task::Regress;
  const size_t Tn = config_.target_length;
  if (regress) {
    // decoder on each of the last T steps; loss per lane = mean over (T, C) of squared errors
    if (Tn == 0 || Tn > L) throw InputError("model: target_length must be in [1, sequence length]");
    ws.tail.resize(Tn, H);
    for (size_t t = 0; t < Tn; ++t)
      for (size_t f = 0; f < H; ++f)
        for (size_t l = 0; l < kLanes; ++l) ws.tail.at(t, f)[l] = x->at(L - Tn + t, f)[l];
    linear_forward(P + dec_w_, P + dec_b_, C, ws.tail, ws.logits);
    ws.glog.resize(Tn, C);
    const T inv = T(1) / static_cast<T>(Tn * C);
    for (size_t l = 0; l < kLanes; ++l) {
      if (!chunk.x[l] || !chunk.y[l]) continue;
      ++res.count;
      double se = 0;
      for (size_t t = 0; t < Tn; ++t)
        for (size_t c = 0; c < C; ++c) {
          const T out = ws.logits.at(t, c)[l];
          const T d = out - static_cast<T>(chunk.y[l][t * C + c]);
          se += static_cast<double>(d) * static_cast<double>(d);
          ws.glog.at(t, c)[l] = 2 * d * inv;
          res.outputs.push_back(static_cast<float>(out));
        }
      res.loss += se / static_cast<double>(Tn * C);
    }
  } else {
    ws.pooled.resize(1, H);
    if (config_.pooling == Pooling::Mean) {
      mean_pool_forward(*x, ws.pooled_v);
      ws.pooled.v = ws.pooled_v;
    } else {
      for (size_t f = 0; f < H; ++f)
        for (size_t l = 0; l < kLanes; ++l) ws.pooled.at(0, f)[l] = x->at(L - 1, f)[l];
    }
    linear_forward(P + dec_w_, P + dec_b_, C, ws.pooled, ws.logits);
    size_t correct = 0;
    res.loss = static_cast<double>(softmax_xent(ws.logits.v, C, chunk.label, ws.glogits_v, &correct));
    res.correct = correct;
    for (size_t l = 0; l < kLanes; ++l) {
      if (!chunk.x[l]) continue;
      ++res.count;
      size_t arg = 0;
      for (size_t c = 1; c < C; ++c)
        if (ws.logits.v[c * kLanes + l] > ws.logits.v[arg * kLanes + l]) arg = c;
      res.predicted.push_back(static_cast<int32_t>(arg));
    }
  }
  if (grad) backward(P, prep, chunk, dropout_seed, ws, grad);
  return res;
}

template <typename T>
void Model::backward(const T* P, const Prepared<T>& prep, const Chunk& chunk, uint64_t dropout_seed,
                     Workspace<T>& ws, T* grad, std::vector<CoeffGrad>* coeff_grads) const {
  const size_t L = chunk.L, H = config_.H, C = config_.d_output;
  const bool train = dropout_seed != 0 && config_.dropout > 0;
  const bool training = dropout_seed != 0;
  const bool s5 = config_.layer == LayerType::S5;
  const bool regress = config_.task == Task::Regress;
  const size_t Tn = config_.target_length;
  bool valid[kLanes];
  for (size_t l = 0; l < kLanes; ++l) valid[l] = chunk.x[l] != nullptr;
  ws.gx.resize(L, H);
  if (regress) {
    linear_backward(P + dec_w_, C, ws.tail, ws.glog, grad + dec_w_, grad + dec_b_, &ws.gtail);
    for (size_t t = 0; t < Tn; ++t)
      for (size_t f = 0; f < H; ++f)
        for (size_t l = 0; l < kLanes; ++l) ws.gx.at(L - Tn + t, f)[l] = ws.gtail.at(t, f)[l];
  } else {
    ws.glog.resize(1, C);
    ws.glog.v = ws.glogits_v;
    ws.gpool.resize(1, H);
    linear_backward(P + dec_w_, C, ws.pooled, ws.glog, grad + dec_w_, grad + dec_b_, &ws.gpool);
    if (config_.pooling == Pooling::Mean) {
      mean_pool_backward(ws.gpool.v, ws.gx);
    } else {
      for (size_t f = 0; f < H; ++f)
        for (size_t l = 0; l < kLanes; ++l) ws.gx.at(L - 1, f)[l] = ws.gpool.at(0, f)[l];
    }
  }
  for (size_t i = layers_.size(); i-- > 0;) {
    const LayerOffsets& lo = layers_[i];
    auto& W = ws.layers[i];
    const Seq<T>& xin = i == 0 ? ws.x0 : ws.layers[i - 1].out;
    const bool keep = ws.keep_point_grads;
    if (keep) W.grads.out = ws.gx;
    // gr = d/dr
    if (config_.norm_out())
      norm_backward(lo, P, training, valid, W.r, W.mean_out, W.rstd_out, ws.gx, grad, ws.gr);
    else
      ws.gr = ws.gx;
    ws.gg = ws.gr;
    if (train) dropout_apply(W.drop2, ws.gg);
    if (keep) {
      W.grads.r = ws.gr;
      W.grads.g = ws.gg;
    }
    bool has_gy2 = false;
    switch (config_.mixing) {
      case Mixing::Glu:
        glu_backward(W.m, ws.gg, ws.gm, ws.channel_threads);
        linear_backward(P + lo.mix_w, 2 * H, W.act, ws.gm, grad + lo.mix_w, grad + lo.mix_b, &ws.gact,
                        ws.channel_threads);
        break;
      case Mixing::HalfGlu1:
        gate_backward(W.act, W.m, ws.gg, ws.gact2, ws.gm);
        linear_backward(P + lo.mix_w, H, W.act, ws.gm, grad + lo.mix_w, grad + lo.mix_b, &ws.gact, ws.channel_threads);
        add_into(ws.gact, ws.gact2);
        break;
      case Mixing::HalfGlu2:
        gate_backward(W.y, W.m, ws.gg, ws.gy2, ws.gm);
        linear_backward(P + lo.mix_w, H, W.act, ws.gm, grad + lo.mix_w, grad + lo.mix_b, &ws.gact, ws.channel_threads);
        has_gy2 = true;
        break;
      case Mixing::Gelu: ws.gact = ws.gg; break;
    }
    if (train) dropout_apply(W.drop1, ws.gact);
    gelu_backward(W.y, ws.gact, ws.gy, ws.channel_threads);
    if (has_gy2) add_into(ws.gy, ws.gy2);
    if (keep) {
      if (config_.mixing != Mixing::Gelu) W.grads.m = ws.gm;
      W.grads.act = ws.gact;
      W.grads.y = ws.gy;
    }
    const Seq<T>& z = config_.norm_in() ? W.z : xin;
    if (s5)
      s5_backward(lo.s5, P, s5_options(), prep.s5[i], z, W.xs, ws.gy, ws.gz, ws.gs, grad,
                  coeff_grads ? &(*coeff_grads)[i] : nullptr);
    else
      s4d_backward(lo.ssm, P, config_.discretization, prep.s4d[i], z,
                   S4DStates<T>{W.states.data(), W.state_codes, W.state_codes16, W.state_scale}, ws.gy, ws.gz, grad,
                   coeff_grads ? &(*coeff_grads)[i] : nullptr, ws.channel_threads);
    if (keep) W.grads.z = ws.gz;
    // gx(in) = gr (residual) + path through the SSM input
    if (config_.norm_in()) {
      norm_backward(lo, P, training, valid, xin, W.mean_in, W.rstd_in, ws.gz, grad, ws.gtmp);
      ws.gx = ws.gr;
      add_into(ws.gx, ws.gtmp);
    } else {
      ws.gx = ws.gr;
      add_into(ws.gx, ws.gz);
    }
  }
  linear_backward(P + enc_w_, H, ws.input, ws.gx, grad + enc_w_, grad + enc_b_, static_cast<Seq<T>*>(nullptr));
}

template void Model::prepare<float>(const float*, Prepared<float>&) const;
template void Model::prepare<double>(const double*, Prepared<double>&) const;
template void Model::prepare_conv<float>(const float*, size_t, Prepared<float>&) const;
template void Model::prepare_conv<double>(const double*, size_t, Prepared<double>&) const;
template void Model::backward<float>(const float*, const Prepared<float>&, const Chunk&, uint64_t, Workspace<float>&,
                                     float*, std::vector<CoeffGrad>*) const;
template void Model::backward<double>(const double*, const Prepared<double>&, const Chunk&, uint64_t,
                                      Workspace<double>&, double*, std::vector<CoeffGrad>*) const;
template ChunkResult Model::run_chunk<float>(const float*, const Prepared<float>&, const Chunk&, uint64_t,
                                             float*, Workspace<float>&) const;
template ChunkResult Model::run_chunk<double>(const double*, const Prepared<double>&, const Chunk&, uint64_t,
                                              double*, Workspace<double>&) const;

}  // namespace ssmsim::core
