#include "ssm_core/qat.hpp"

#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "quant/errors.hpp"
#include "quant/keys.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/layers.hpp"

namespace ssmsim::core {

const keys::Table<QatOptions>& QatOptions::keys() {
  using Q = QatOptions;
  static const auto t =
      keys::Table<Q>("qat")
          .custom(
              "learn_scales", "a list of components: input, residual, ssm_in, x, ssm_out, gelu_out, glu, pool",
              "components whose activation / state points learn their step size (LSQ; docs/quantization.md); "
              "empty: the PTQ formats stay",
              [](Q& q, const YAML::Node& v, const std::string& key) {
                q.learn_scales.clear();
                const auto names = keys::list_words(v, key, "a list of component names");
                const auto& ok = learnable_components();
                for (const auto& n : names) {
                  const quant::Component c = quant::parse_component(n, key);
                  if (std::find(ok.begin(), ok.end(), c) == ok.end())
                    throw ConfigError(key, n, "one of: input, residual, ssm_in, x, ssm_out, gelu_out, glu, pool (activation and state points)");
                  q.learn_scales.push_back(c);
                }
              },
              [](const Q& q) {
                YAML::Node n(YAML::NodeType::Sequence);
                for (const auto c : q.learn_scales) n.push_back(quant::component_name(c));
                return n;
              })
          .real("scale_lr", &Q::scale_lr, 0, 10, "",
                "peak learning rate of the learned steps (AdamW on s / s_PTQ, the train schedule)")
          .boolean("learn_zero_points", &Q::learn_zero_points,
                   "the asymmetric points among learn_scales' also learn their zero point (LSQ+: the real offset "
                   "-zp s, at scale_lr); false: a learned step keeps the PTQ zero point in codes")
          .real("distill", &Q::distill, 0, 1, "",
                "weight of knowledge distillation from the float checkpoint: the loss is (1 - w) cross-entropy + "
                "w T^2 KL(teacher || model) at temperature T (docs/quantization.md); 0: cross-entropy alone")
          .real("distill_temperature", &Q::distill_temperature, 0.1, 100, "",
                "the softmax temperature T of the distillation term")
          .real("dampen", &Q::dampen, 0, 1e6, "",
                "oscillation dampening: the loss gains dampen/2 sum (w - q(w))^2 over the quantized weights "
                "(and the discrete recurrence's A and B), pulling each to its code (docs/quantization.md); 0: off");
  return t;
}

namespace {

using quant::QuantParams;

// States per layer and B_bar entries per layer.
std::pair<size_t, size_t> coeff_sizes(const ModelConfig& mc) {
  if (mc.layer == LayerType::S5) {
    const size_t P2 = mc.conj_sym ? mc.P / 2 : mc.P;
    return {P2, P2 * mc.H};
  }
  return {mc.H * mc.N / 2, mc.H * mc.N / 2};
}

std::vector<CoeffGrad> zero_coeff_grads(const ModelConfig& mc) {
  const auto [n, nb] = coeff_sizes(mc);
  std::vector<CoeffGrad> g(mc.n_layers);
  for (auto& l : g) {
    l.lambda_bar.assign(n, 0.0);
    l.b_bar.assign(nb, 0.0);
  }
  return g;
}

}  // namespace

std::vector<float> recurrence_params_init(const Model& model, const std::vector<float>& params, Recurrence r) {
  const ModelConfig& mc = model.config();
  const std::vector<double> pd(params.begin(), params.end());
  Model::Prepared<double> prep;
  model.prepare(pd.data(), prep);
  std::vector<float> out;
  for (size_t i = 0; i < mc.n_layers; ++i) {
    std::vector<std::complex<double>> lam, b;
    if (mc.layer == LayerType::S5) {
      const auto& k = prep.s5[i];
      for (size_t m = 0; m < k.P2; ++m) lam.emplace_back(k.Lr[m], k.Li[m]);
      for (size_t m = 0; m < k.P2; ++m)
        for (size_t h = 0; h < k.H; ++h) b.emplace_back(k.Wb[2 * m * k.H + h], k.Wb[(2 * m + 1) * k.H + h]);
    } else {
      const auto& k = prep.s4d[i];
      for (size_t m = 0; m < k.H * k.N2; ++m) {
        lam.emplace_back(k.Lr[m], k.Li[m]);
        b.emplace_back(k.Br[m], k.Bi[m]);
      }
    }
    for (const auto& l : lam) {
      if (r == Recurrence::Polar) {  // |Lambda_bar| = exp(-exp(rho)), stable for |Lambda_bar| < 1
        out.push_back(static_cast<float>(std::log(-std::log(std::abs(l)))));
        out.push_back(static_cast<float>(std::arg(l)));
      } else {
        out.push_back(static_cast<float>(l.real()));
        out.push_back(static_cast<float>(l.imag()));
      }
    }
    for (const auto& v : b) {
      out.push_back(static_cast<float>(v.real()));
      out.push_back(static_cast<float>(v.imag()));
    }
  }
  return out;
}

std::vector<CoeffOverride> recurrence_coeffs(const Model& model, const std::vector<float>& rp, Recurrence r) {
  const ModelConfig& mc = model.config();
  const auto [n, nb] = coeff_sizes(mc);
  std::vector<CoeffOverride> out(mc.n_layers);
  size_t k = 0;
  for (auto& layer : out) {
    for (size_t m = 0; m < n; ++m, k += 2) {
      std::complex<double> l(rp[k], rp[k + 1]);
      if (r == Recurrence::Polar) l = std::polar(std::exp(-std::exp(static_cast<double>(rp[k]))), static_cast<double>(rp[k + 1]));
      layer.A.push_back(l.real());
      layer.A.push_back(l.imag());
    }
    for (size_t m = 0; m < nb; ++m, k += 2) {
      layer.B.push_back(rp[k]);
      layer.B.push_back(rp[k + 1]);
    }
  }
  return out;
}

void recurrence_grad(const Model& model, const std::vector<float>& rp, Recurrence r, const std::vector<CoeffGrad>& cg,
                     std::vector<float>& grad) {
  const ModelConfig& mc = model.config();
  const auto [n, nb] = coeff_sizes(mc);
  grad.assign(rp.size(), 0.f);
  size_t k = 0;
  for (size_t i = 0; i < mc.n_layers; ++i) {
    for (size_t m = 0; m < n; ++m, k += 2) {
      const std::complex<double> G = cg[i].lambda_bar[m];
      if (r == Recurrence::Polar) {
        // Lambda_bar = exp(-exp(rho)) e^(i theta): dL/drho = Re(conj(dLb/drho) G) with
        // dLb/drho = -exp(rho) Lb; dL/dtheta = Re(conj(i Lb) G) = Im(conj(Lb) G)
        const double rho = rp[k];
        const std::complex<double> Lb = std::polar(std::exp(-std::exp(rho)), static_cast<double>(rp[k + 1]));
        const std::complex<double> c = std::conj(Lb) * G;
        grad[k] = static_cast<float>(-std::exp(rho) * c.real());
        grad[k + 1] = static_cast<float>(c.imag());
      } else {
        grad[k] = static_cast<float>(G.real());
        grad[k + 1] = static_cast<float>(G.imag());
      }
    }
    for (size_t m = 0; m < nb; ++m, k += 2) {
      grad[k] = static_cast<float>(cg[i].b_bar[m].real());
      grad[k + 1] = static_cast<float>(cg[i].b_bar[m].imag());
    }
  }
}

namespace {

TrainState fresh_state(std::vector<float> params) {
  TrainState s;
  s.params = std::move(params);
  s.adam_m.assign(s.params.size(), 0.f);
  s.adam_v.assign(s.params.size(), 0.f);
  return s;
}

std::string learned_label(const QatOptions& q) {
  std::vector<std::string> n;
  for (const auto c : q.learn_scales) n.push_back(quant::component_name(c));
  return keys::join(n);
}

const char* recurrence_label(Recurrence r) {
  return r == Recurrence::Continuous ? "continuous" : r == Recurrence::Discrete ? "discrete" : "polar";
}

// One QAT run: the float master weights (and, for the discrete and polar parameterisations,
// Lambda_bar and B_bar learned directly with the SSM learning rate), their optimisers, and the
// per-chunk buffers of a step. The activation and state formats stay those of `points`.
class QatRun {
 public:
  QatRun(const Model& model, const std::vector<float>& params, const quant::PrecisionConfig& prec,
         const SequenceSet& set, const TrainConfig& cfg, const PtqOptions& opt,
         std::map<std::string, std::vector<QuantParams>> points, std::vector<LearnedStep> lsteps, double scale_lr,
         const Ranks& ranks, std::vector<float> teacher = {}, double distill = 0, double temperature = 1,
         double dampen = 0)
      : model_(model),
        ranks_(ranks),
        prec_(prec),
        set_(set),
        cfg_(cfg),
        opt_(opt),
        teacher_(std::move(teacher)),
        distill_(distill),
        temperature_(temperature),
        dampen_(dampen),
        points_(std::move(points)),
        lsteps_(std::move(lsteps)),
        sst_(fresh_state(std::vector<float>(lsteps_.size(), 1.0f))),
        sadam_(lsteps_.size(), scale_lr, 0.0, cfg),
        zst_(fresh_state(offsets0(lsteps_))),
        zadam_(lsteps_.size(), scale_lr, 0.0, cfg),
        clsq_(max_chunks_from(cfg)),
        direct_(cfg.recurrence != Recurrence::Continuous),
        st_(fresh_state(params)),
        rst_(direct_ ? fresh_state(recurrence_params_init(model, params, cfg.recurrence)) : TrainState{}),
        adamw_(model, cfg),
        radam_(rst_.params.size(), cfg.ssm_lr, cfg.ssm_weight_decay, cfg),
        max_chunks_((cfg.batch_size + kLanes - 1) / kLanes),
        threads_(rank_threads(ranks, cfg.threads)),
        steps_((set.n + cfg.batch_size - 1) / cfg.batch_size),
        total_(static_cast<uint64_t>(steps_) * cfg.epochs),
        warmup_(static_cast<uint64_t>(std::llround(cfg.warmup_epochs * static_cast<double>(steps_)))),
        ccg_(direct_ ? max_chunks_ : 0),
        cgrad_(max_chunks_, std::vector<float>(st_.params.size())),
        closs_(max_chunks_),
        ccorrect_(max_chunks_),
        grad_(st_.params.size()) {}

  size_t steps() const { return steps_; }
  const std::vector<float>& params() const { return st_.params; }
  const std::vector<LearnedStep>& learned_steps() const { return lsteps_; }
  const std::map<std::string, std::vector<QuantParams>>& points() const { return points_; }
  double learned_scale(size_t k) const { return static_cast<double>(sst_.params[k]) * lsteps_[k].s0; }
  // The learned real offset lo = -zp s of a point that learns its zero point, in units of s0.
  double learned_offset(size_t k) const { return static_cast<double>(zst_.params[k]) * lsteps_[k].s0; }
  // A learned point's parameters now: its step, and its zero point (learned, or the PTQ one).
  QuantParams learned_params(size_t k) const {
    const double s = learned_scale(k);
    return lsteps_[k].learn_zp ? step_params(lsteps_[k], s, learned_offset(k)) : step_params(lsteps_[k], s);
  }

  // The optimiser groups' state; the weights' also carries the run's step and progress (epochs
  // done, the current epoch's step and running sums), which the caller keeps in progress().
  TrainState& progress() { return st_; }
  QatState state() const {
    QatState q;
    q.weights = st_;
    if (direct_) q.recurrence = rst_;
    if (!lsteps_.empty()) {
      q.steps = sst_;
      q.offsets = zst_;
    }
    return q;
  }
  // Continues from a saved state (with its progress): every group's sizes must be this run's.
  // parameters_only: a new run from the state's parameters (fresh moments, no progress).
  void restore(const QatState& q, bool parameters_only) {
    auto take = [&](TrainState& into, const TrainState& from, const char* what) {
      for (const auto* v : {&from.params, &from.adam_m, &from.adam_v})
        if (v->size() != into.params.size())
          throw InputError(
              fmt::format("qat: the saved state's {} hold {} numbers, this run's {}: the state is of "
                          "another model, recurrence or qat.learn_scales; start without --resume or --from-state",
                          what, v->size(), into.params.size()));
      if (parameters_only)
        into.params = from.params;
      else
        into = from;
    };
    take(st_, q.weights, "weights");
    if (direct_) take(rst_, q.recurrence, "recurrence parameters");
    if (!lsteps_.empty()) {
      take(sst_, q.steps, "learned steps");
      take(zst_, q.offsets, "learned offsets");
      for (size_t k = 0; k < lsteps_.size(); ++k) points_[lsteps_[k].name] = {learned_params(k)};
    }
  }

  // The quantized model of the current weights.
  QModel quantized() const {
    const ModelConfig& mc = model_.config();
    if (!direct_) return quantize_weights(mc, st_.params, prec_, points_, opt_.gelu, nullptr, opt_.stable_a);
    const std::vector<CoeffOverride> co = recurrence_coeffs(model_, rst_.params, cfg_.recurrence);
    return quantize_weights(mc, st_.params, prec_, points_, opt_.gelu, &co, opt_.stable_a);
  }

  // One optimiser step on the sequences order[begin, begin + count): the chunks' QAT forward and
  // backward passes on threads, their gradients summed in chunk order, then AdamW.
  void step(const std::vector<size_t>& order, size_t begin, size_t count, double& loss_sum, size_t& correct) {
    const ModelConfig& mc = model_.config();
    const size_t nch = (count + kLanes - 1) / kLanes;
    const QModel q = quantized();
    const QEngine engine(q);
    const QatView view = qat_view(model_, st_.params, q);
    while (qws_.size() < std::min(threads_, max_chunks_)) {
      qws_.push_back(engine.make_workspace());
      fws_.push_back(make_workspace<float>());
    }
    const bool lsq = !lsteps_.empty();
    // the cores this rank's chunks of the batch leave idle split each chunk's S4D layers
    const size_t split = std::max<size_t>(1, threads_ / ((nch + ranks_.size() - 1) / ranks_.size()));
    RankedChunks work;
    work.run = [&](size_t c, size_t w) {
      std::fill(cgrad_[c].begin(), cgrad_[c].end(), 0.f);
      const size_t c0 = begin + c * kLanes, cn = std::min(kLanes, begin + count - c0);
      ccorrect_[c] = 0;
      if (direct_) ccg_[c] = zero_coeff_grads(mc);
      const Chunk chunk = make_chunk(set_, &order[c0], cn);
      DistillTargets targets;  // the teacher's logits of the chunk's sequences
      targets.weight = distill_;
      targets.temperature = temperature_;
      for (size_t l = 0; l < cn && !teacher_.empty(); ++l) targets.teacher[l] = &teacher_[order[c0 + l] * mc.d_output];
      fws_[w]->keep_point_grads = lsq;
      fws_[w]->channel_threads = qws_[w]->channel_threads = split;
      qws_[w]->record16 = !lsq;  // the learned steps read the int32 record
      closs_[c] = qat_chunk(model_, view, engine, chunk, *qws_[w], *fws_[w], cgrad_[c].data(), &ccorrect_[c], nullptr,
                            direct_ ? &ccg_[c] : nullptr, teacher_.empty() ? nullptr : &targets);
      if (lsq) lsq_chunk(model_, view, engine, *qws_[w], *fws_[w], chunk, lsteps_, clsq_[c]);
    };
    work.pack = [&](size_t c, Packer& p) {  // what the step below reads of a chunk
      p.put(cgrad_[c]).put(closs_[c]).put(ccorrect_[c]);
      if (direct_)
        for (const CoeffGrad& g : ccg_[c]) p.put(g.lambda_bar).put(g.b_bar);
      if (lsq) p.put(clsq_[c].grad).put(clsq_[c].count).put(clsq_[c].zgrad);
    };
    work.unpack = [&](size_t c, Unpacker& u) {
      u.get(cgrad_[c]).get(closs_[c]).get(ccorrect_[c]);
      if (direct_) {
        ccg_[c].resize(mc.n_layers);
        for (CoeffGrad& g : ccg_[c]) u.get(g.lambda_bar).get(g.b_bar);
      }
      if (lsq) u.get(clsq_[c].grad).get(clsq_[c].count).get(clsq_[c].zgrad);
    };
    run_chunks(ranks_, nch, threads_, work);
    std::fill(grad_.begin(), grad_.end(), 0.f);
    for (size_t c = 0; c < nch; ++c) {
      for (size_t i = 0; i < grad_.size(); ++i) grad_[i] += cgrad_[c][i];
      loss_sum += closs_[c];
      correct += ccorrect_[c];
    }
    const double f = lr_factor(st_.step, total_, warmup_, cfg_.min_lr_ratio, cfg_.cosine_epochs, steps_);
    if (dampen_ > 0) add_dampening(grad_, st_.params, view.params, view.step, count, f);
    adamw_.step(st_, grad_, count, f);
    if (direct_) {
      for (size_t c = 1; c < nch; ++c)  // chunk order
        for (size_t i = 0; i < mc.n_layers; ++i) {
          for (size_t m = 0; m < ccg_[0][i].lambda_bar.size(); ++m) ccg_[0][i].lambda_bar[m] += ccg_[c][i].lambda_bar[m];
          for (size_t m = 0; m < ccg_[0][i].b_bar.size(); ++m) ccg_[0][i].b_bar[m] += ccg_[c][i].b_bar[m];
        }
      recurrence_grad(model_, rst_.params, cfg_.recurrence, ccg_[0], rgrad_);
      if (dampen_ > 0 && cfg_.recurrence == Recurrence::Discrete)  // Lambda_bar's and B_bar's parts
        add_dampening(rgrad_, rst_.params, view.recurrence, view.recurrence_step, count, f);
      rst_.step = st_.step;
      radam_.step(rst_, rgrad_, count, f);
    }
    if (lsq) step_scales(nch, count, f);
    ++st_.step;
  }

 private:
  const Model& model_;
  const Ranks& ranks_;
  const quant::PrecisionConfig& prec_;
  const SequenceSet& set_;
  const TrainConfig& cfg_;
  const PtqOptions& opt_;
  const std::vector<float> teacher_;  // distillation: the float model's logits, [set.n, classes]
  const double distill_, temperature_;
  const double dampen_;  // qat.dampen
  // The dampening term's gradient lambda (w - q(w)), times `count` as the batch sums' (AdamW
  // divides by it), for every quantized w whose code is its rounding (|w - q(w)| <= step / 2; not
  // a clipped code, nor one that stable_a moved). lambda = dampen (1 - f) rises from 0 as the
  // learning rate's factor f decays: the weights move between codes freely early, and are held
  // at their codes as the schedule ends.
  void add_dampening(std::vector<float>& grad, const std::vector<float>& w, const std::vector<float>& q,
                     const std::vector<float>& step, size_t count, double f) const {
    const auto k = static_cast<float>(dampen_ * (1 - f) * static_cast<double>(count));
    for (size_t i = 0; i < grad.size(); ++i) {
      const float d = w[i] - q[i];
      if (step[i] > 0.f && std::abs(d) <= 0.5f * step[i] * (1 + 1e-4f)) grad[i] += k * d;
    }
  }
  // The learned steps' (and offsets') AdamW updates on s / s0 (lo / s0) from the chunks' LSQ sums
  // (in chunk order), scaled by s0 and LSQ's gradient scale 1/sqrt(N Qp) (N: the point's values per
  // sequence), then every learned point's format rebuilt from its new step and offset.
  void step_scales(size_t nch, size_t count, double f) {
    auto grads = [&](std::vector<double> LsqSums::*sums, bool offsets) {
      std::vector<float> g(lsteps_.size(), 0.f);
      for (size_t k = 0; k < lsteps_.size(); ++k) {
        if (offsets && !lsteps_[k].learn_zp) continue;
        double sum = 0, n = 0;
        for (size_t c = 0; c < nch; ++c) {
          sum += (clsq_[c].*sums)[k];
          n += clsq_[c].count[k];
        }
        const double per_seq = n / static_cast<double>(count);
        const double qp = static_cast<double>(points_.at(lsteps_[k].name)[0].qmax());
        g[k] = static_cast<float>(lsteps_[k].s0 * sum / std::sqrt(std::max(per_seq, 1.0) * std::max(qp, 1.0)));
      }
      return g;
    };
    sst_.step = zst_.step = st_.step;
    std::vector<float> g = grads(&LsqSums::grad, false), zg = grads(&LsqSums::zgrad, true);
    sadam_.step(sst_, g, count, f);
    zadam_.step(zst_, zg, count, f);
    for (size_t k = 0; k < lsteps_.size(); ++k) {
      sst_.params[k] = std::max(sst_.params[k], 1e-4f);  // a step stays positive
      zst_.params[k] = std::min(zst_.params[k], 0.f);   // the range holds 0: lo <= 0
      points_[lsteps_[k].name] = {learned_params(k)};
    }
  }

  // The offsets' starting values: -zp s0 / s0 = -zp of the PTQ format.
  static std::vector<float> offsets0(const std::vector<LearnedStep>& steps) {
    std::vector<float> z;
    for (const auto& s : steps) z.push_back(-static_cast<float>(s.zp0));
    return z;
  }

  static size_t max_chunks_from(const TrainConfig& cfg) { return (cfg.batch_size + kLanes - 1) / kLanes; }

  std::map<std::string, std::vector<QuantParams>> points_;
  const std::vector<LearnedStep> lsteps_;
  TrainState sst_;
  const AdamW sadam_;
  TrainState zst_;
  const AdamW zadam_;
  std::vector<LsqSums> clsq_;
  const bool direct_;
  TrainState st_, rst_;
  const AdamW adamw_, radam_;
  const size_t max_chunks_, threads_, steps_;
  const uint64_t total_, warmup_;
  std::vector<std::vector<CoeffGrad>> ccg_;
  std::vector<float> rgrad_;
  std::vector<std::vector<float>> cgrad_;
  std::vector<double> closs_;
  std::vector<size_t> ccorrect_;
  std::vector<std::unique_ptr<QWorkspace>> qws_;
  std::vector<std::unique_ptr<Workspace<float>>> fws_;
  std::vector<float> grad_;
};

}  // namespace

QatResult train_qat(const FloatCheckpoint& ck, const quant::PrecisionConfig& prec, const Workload& data,
                    const TrainConfig& cfg, const PtqOptions& opt, const QatCallbacks& cb, const QatOptions& qat,
                    const Ranks& ranks, const QatResume* resume) {
  const ModelConfig& mc = ck.config;
  if (mc.task != Task::Classify || data.kind != TaskKind::Classification)
    throw InputError("qat: classification models and workloads only");
  const Model model(mc);
  using Clock = std::chrono::steady_clock;
  QatResult res;
  // the activation and state formats: PTQ's calibration, fixed for the run
  const QModel ptq = quantize_ptq(ck, prec, data.train, opt);
  auto val_accuracy = [&](const QModel& q) {
    return data.val.n ? evaluate_quantized(q, data.val, data.num_classes, 0, cfg.threads, ranks).accuracy : 0;
  };
  res.ptq_val_accuracy = res.start_val_accuracy = val_accuracy(ptq);
  std::vector<LearnedStep> lsteps = learned_steps(ptq, qat.learn_scales, qat.learn_zero_points);
  const bool learns = !lsteps.empty();
  size_t best_epoch = 0;
  auto keep_best = [&](QModel q, size_t epoch) {  // the PTQ starting point counts as epoch 0
    best_epoch = epoch;
    res.best = std::move(q);
    res.best.metadata["qat.best_epoch"] = std::to_string(epoch);
    res.best.metadata["qat.recurrence"] = recurrence_label(cfg.recurrence);
    if (epoch > 0 && learns) res.best.metadata["qat.learn_scales"] = learned_label(qat);
    if (epoch > 0 && qat.distill > 0)
      res.best.metadata["qat.distill"] = fmt::format("weight {}, temperature {}", qat.distill, qat.distill_temperature);
    if (epoch > 0 && qat.dampen > 0) res.best.metadata["qat.dampen"] = fmt::format("{}", qat.dampen);
  };
  keep_best(ptq, 0);
  res.best_val_accuracy = res.ptq_val_accuracy;
  std::vector<float> teacher;  // the float checkpoint's logits on the training set, once
  if (qat.distill > 0)
    teacher = evaluate(model, ck.params, data.train, data.num_classes, 0, cfg.threads, false, true, ranks).logits;
  QatRun run(model, ck.params, prec, data.train, cfg, opt, ptq.points, std::move(lsteps), qat.scale_lr, ranks,
             std::move(teacher), qat.distill, qat.distill_temperature, qat.dampen);
  const auto& set = data.train;
  const size_t B = cfg.batch_size, steps = run.steps();
  if (resume) {
    run.restore(resume->state, resume->parameters_only);
    if (resume->parameters_only) {  // the model it starts from is this run's epoch 0
      QModel q = run.quantized();
      res.best_val_accuracy = res.start_val_accuracy = val_accuracy(q);
      keep_best(std::move(q), 0);
    } else if (resume->state.best_epoch > 0) {
      res.best = resume->best;
      best_epoch = resume->state.best_epoch;
      res.best_val_accuracy = resume->state.weights.best_val_accuracy;
    }
  }
  // the state now, for the callbacks and the result
  auto snapshot = [&] {
    QatState q = run.state();
    q.weights.best_val_accuracy = res.best_val_accuracy;
    q.best_epoch = best_epoch;
    return q;
  };
  // the epochs done and the epoch's running sums (from the saved state when resumed mid-epoch)
  TrainState& p = run.progress();
  const auto start = Clock::now();
  size_t done = 0;  // by this process
  for (size_t epoch = p.epochs_done; epoch < cfg.epochs; ++epoch) {
    const auto t0 = Clock::now();
    const std::vector<size_t> order = epoch_order(set.n, cfg.seed, epoch);
    const size_t seen_before = p.epoch_seen;
    for (size_t s = p.epoch_step; s < steps; ++s) {
      const size_t begin = s * B, count = std::min(B, set.n - begin);
      run.step(order, begin, count, p.epoch_loss, p.epoch_correct);
      p.epoch_seen += count;
      p.epoch_step = s + 1;
      done += count;
      if (cb.progress && (s % 10 == 9 || s + 1 == steps))
        cb.progress(progress_at(epoch, cfg.epochs, s, steps, p.epoch_loss, p.epoch_correct, p.epoch_seen, set.n, done,
                                std::chrono::duration<double>(Clock::now() - start).count()));
      if (s + 1 < steps && ranks.rank0_says(cb.stop_requested && cb.stop_requested())) {
        res.finished = false;
        break;
      }
    }
    if (!res.finished) break;
    QatReport rep;
    rep.epoch = epoch + 1;
    rep.train_loss = p.epoch_loss / static_cast<double>(p.epoch_seen);
    rep.train_accuracy = static_cast<double>(p.epoch_correct) / static_cast<double>(p.epoch_seen);
    rep.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    rep.samples_per_s = static_cast<double>(p.epoch_seen - seen_before) / rep.seconds;
    QModel q = run.quantized();
    rep.val_accuracy = val_accuracy(q);
    if (rep.val_accuracy > res.best_val_accuracy) {
      res.best_val_accuracy = rep.val_accuracy;
      keep_best(std::move(q), epoch + 1);
      rep.best = true;
    }
    p.epochs_done = epoch + 1;
    p.epoch_step = p.epoch_seen = p.epoch_correct = 0;
    p.epoch_loss = 0;
    if (cb.epoch_end) cb.epoch_end(rep, res.best, snapshot());
    // a stop asked for in the epoch's last step (or during its validation) stops here
    if (epoch + 1 < cfg.epochs && ranks.rank0_says(cb.stop_requested && cb.stop_requested())) {
      res.finished = false;
      break;
    }
  }
  res.state = snapshot();
  res.params = run.params();
  res.steps = run.learned_steps();
  for (size_t k = 0; k < res.steps.size(); ++k) {
    res.learned_scale.push_back(run.learned_scale(k));
    res.learned_zero_point.push_back(run.learned_params(k).zero_point);
  }
  res.points = run.points();
  return res;
}

void save_qat_state(const std::filesystem::path& path, const Model& model, const QatState& state,
                    const std::string& run_key) {
  std::map<std::string, TrainState> groups;
  if (!state.recurrence.params.empty()) groups["recurrence"] = state.recurrence;
  if (!state.steps.params.empty()) {
    groups["steps"] = state.steps;
    groups["offsets"] = state.offsets;
  }
  save_train_state(path, model, state.weights, groups,
                   {{"kind", "qat"}, {"qat.run", run_key}, {"qat.best_epoch", std::to_string(state.best_epoch)}});
}

QatState load_qat_state(const std::filesystem::path& path, const Model& model, const std::string& run_key) {
  std::map<std::string, TrainState> groups;
  std::map<std::string, std::string> meta;
  QatState q;
  q.weights = load_train_state(path, model, &groups, &meta);
  if (meta["kind"] != "qat")
    throw InputError(path.string() +
                     ": a float training state (`ssmsim train`), not a QAT one; start `ssmsim qat` "
                     "without --resume");
  if (!run_key.empty() && meta["qat.run"] != run_key)
    throw InputError(path.string() +
                     ": the saved QAT run had other inputs (checkpoint, workload, precision or the "
                     "train, quantize and qat sections):\n  saved: " +
                     meta["qat.run"] + "\n  now:   " + run_key +
                     "\nresume with the same command, or start without --resume");
  q.recurrence = groups["recurrence"];
  q.steps = groups["steps"];
  q.offsets = groups["offsets"];
  try {
    q.best_epoch = std::stoull(meta["qat.best_epoch"]);
  } catch (const std::logic_error&) {
    throw InputError(path.string() + ": malformed qat.best_epoch metadata");
  }
  return q;
}

}  // namespace ssmsim::core
