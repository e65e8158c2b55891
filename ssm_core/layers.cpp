#include "ssm_core/layers.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstring>

namespace ssmsim::core {

namespace {

template <typename T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A chunk [L][F][lanes] as the matrix [F, L * lanes] (column = one step of one sequence).
template <typename T>
RowMatrix<T> as_columns(const Seq<T>& s) {
  RowMatrix<T> m(s.F, s.L * kLanes);
  for (size_t t = 0; t < s.L; ++t)
    for (size_t f = 0; f < s.F; ++f) std::memcpy(&m(f, t * kLanes), s.at(t, f), sizeof(T) * kLanes);
  return m;
}

template <typename T>
void from_columns(const RowMatrix<T>& m, Seq<T>& s) {
  for (size_t t = 0; t < s.L; ++t)
    for (size_t f = 0; f < s.F; ++f) std::memcpy(s.at(t, f), &m(f, t * kLanes), sizeof(T) * kLanes);
}

}  // namespace

// Dense layers are matrix products over all steps and lanes at once: [O, I] x [I, L * lanes]
// through Eigen's GEMM (a fixed summation order for a given build: deterministic). Every sum
// stays within one column or, for the weight gradient, within this chunk.
template <typename T>
void linear_forward(const T* W, const T* b, size_t O, const Seq<T>& in, Seq<T>& out) {
  const size_t I = in.F;
  out.resize(in.L, O);
  const Eigen::Map<const RowMatrix<T>> w(W, static_cast<Eigen::Index>(O), static_cast<Eigen::Index>(I));
  RowMatrix<T> y = w * as_columns(in);
  if (b)
    for (size_t o = 0; o < O; ++o) y.row(static_cast<Eigen::Index>(o)).array() += b[o];
  from_columns(y, out);
}

template <typename T>
void linear_backward(const T* W, size_t O, const Seq<T>& in, const Seq<T>& gout, T* gW, T* gb, Seq<T>* gin,
                     size_t threads) {
  const size_t I = in.F;
  const Eigen::Map<const RowMatrix<T>> w(W, static_cast<Eigen::Index>(O), static_cast<Eigen::Index>(I));
  const RowMatrix<T> g = as_columns(gout);
  if (gin) gin->resize(in.L, I);
  run_team(gin ? 2 : 1, threads, [&](size_t task, size_t) {
    if (task == 1) {
      from_columns(RowMatrix<T>(w.transpose() * g), *gin);
      return;
    }
    Eigen::Map<RowMatrix<T>> gw(gW, static_cast<Eigen::Index>(O), static_cast<Eigen::Index>(I));
    gw.noalias() += g * as_columns(in).transpose();
    if (gb)
      for (size_t o = 0; o < O; ++o) gb[o] += g.row(static_cast<Eigen::Index>(o)).sum();
  });
}

template <typename T>
void layernorm_forward(const T* gamma, const T* beta, const Seq<T>& in, Seq<T>& out,
                       std::vector<T>& mean, std::vector<T>& rstd, T eps) {
  const size_t F = in.F, L = in.L;
  out.resize(L, F);
  mean.assign(L * kLanes, T(0));
  rstd.assign(L * kLanes, T(0));
  for (size_t t = 0; t < L; ++t) {
    T mu[kLanes] = {}, var[kLanes] = {};
    for (size_t f = 0; f < F; ++f) {
      const T* x = in.at(t, f);
      for (size_t l = 0; l < kLanes; ++l) mu[l] += x[l];
    }
    for (size_t l = 0; l < kLanes; ++l) mu[l] /= T(F);
    for (size_t f = 0; f < F; ++f) {
      const T* x = in.at(t, f);
      for (size_t l = 0; l < kLanes; ++l) var[l] += (x[l] - mu[l]) * (x[l] - mu[l]);
    }
    for (size_t l = 0; l < kLanes; ++l) {
      mean[t * kLanes + l] = mu[l];
      rstd[t * kLanes + l] = T(1) / std::sqrt(var[l] / T(F) + eps);
    }
    for (size_t f = 0; f < F; ++f) {
      const T* x = in.at(t, f);
      T* y = out.at(t, f);
      for (size_t l = 0; l < kLanes; ++l)
        y[l] = (x[l] - mu[l]) * rstd[t * kLanes + l] * gamma[f] + beta[f];
    }
  }
}

template <typename T>
void layernorm_backward(const T* gamma, const Seq<T>& in, const std::vector<T>& mean,
                        const std::vector<T>& rstd, const Seq<T>& gout, T* ggamma, T* gbeta,
                        Seq<T>& gin) {
  const size_t F = in.F, L = in.L;
  gin.resize(L, F);
  std::vector<T> gg(F * kLanes, T(0)), gbt(F * kLanes, T(0));
  for (size_t t = 0; t < L; ++t) {
    const T* mu = &mean[t * kLanes];
    const T* rs = &rstd[t * kLanes];
    // xhat = (x - mu) * rs; dxhat = g * gamma
    // dx = rs * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    T m1[kLanes] = {}, m2[kLanes] = {};
    for (size_t f = 0; f < F; ++f) {
      const T* x = in.at(t, f);
      const T* g = gout.at(t, f);
      for (size_t l = 0; l < kLanes; ++l) {
        const T xhat = (x[l] - mu[l]) * rs[l];
        const T dxhat = g[l] * gamma[f];
        m1[l] += dxhat;
        m2[l] += dxhat * xhat;
        gg[f * kLanes + l] += g[l] * xhat;
        gbt[f * kLanes + l] += g[l];
      }
    }
    for (size_t l = 0; l < kLanes; ++l) {
      m1[l] /= T(F);
      m2[l] /= T(F);
    }
    for (size_t f = 0; f < F; ++f) {
      const T* x = in.at(t, f);
      const T* g = gout.at(t, f);
      T* gx = gin.at(t, f);
      for (size_t l = 0; l < kLanes; ++l) {
        const T xhat = (x[l] - mu[l]) * rs[l];
        gx[l] = rs[l] * (g[l] * gamma[f] - m1[l] - xhat * m2[l]);
      }
    }
  }
  for (size_t f = 0; f < F; ++f) {
    T a = 0, b = 0;
    for (size_t l = 0; l < kLanes; ++l) {
      a += gg[f * kLanes + l];
      b += gbt[f * kLanes + l];
    }
    ggamma[f] += a;
    gbeta[f] += b;
  }
}

template <typename T>
void batchnorm_forward(const T* gamma, const T* beta, const T* run_mean, const T* run_var,
                       const Seq<T>& in, const bool* valid, Seq<T>& out, std::vector<T>& mean,
                       std::vector<T>& var, std::vector<T>& rstd, T eps) {
  const size_t F = in.F, L = in.L;
  out.resize(L, F);
  mean.assign(F, T(0));
  var.assign(F, T(0));
  rstd.assign(F, T(0));
  if (run_mean) {
    for (size_t f = 0; f < F; ++f) {
      mean[f] = run_mean[f];
      var[f] = run_var[f];
    }
  } else {
    size_t lanes = 0;
    for (size_t l = 0; l < kLanes; ++l) lanes += valid[l];
    const T n = static_cast<T>(lanes * L);
    // per-lane partial sums over time (vectorised), then the valid lanes in lane order
    std::vector<T> acc(F * kLanes, T(0));
    for (size_t t = 0; t < L; ++t)
      for (size_t f = 0; f < F; ++f) {
        const T* x = in.at(t, f);
        for (size_t l = 0; l < kLanes; ++l) acc[f * kLanes + l] += x[l];
      }
    for (size_t f = 0; f < F; ++f) {
      T s = 0;
      for (size_t l = 0; l < kLanes; ++l) s += valid[l] ? acc[f * kLanes + l] : T(0);
      mean[f] = n > 0 ? s / n : T(0);
    }
    std::fill(acc.begin(), acc.end(), T(0));
    for (size_t t = 0; t < L; ++t)
      for (size_t f = 0; f < F; ++f) {
        const T* x = in.at(t, f);
        for (size_t l = 0; l < kLanes; ++l) acc[f * kLanes + l] += (x[l] - mean[f]) * (x[l] - mean[f]);
      }
    for (size_t f = 0; f < F; ++f) {
      T s = 0;
      for (size_t l = 0; l < kLanes; ++l) s += valid[l] ? acc[f * kLanes + l] : T(0);
      var[f] = n > 0 ? s / n : T(0);
    }
  }
  for (size_t f = 0; f < F; ++f) rstd[f] = T(1) / std::sqrt(var[f] + eps);
  for (size_t t = 0; t < L; ++t)
    for (size_t f = 0; f < F; ++f) {
      const T* x = in.at(t, f);
      T* y = out.at(t, f);
      const T a = rstd[f] * gamma[f], m = mean[f], b = beta[f];
      for (size_t l = 0; l < kLanes; ++l) y[l] = (x[l] - m) * a + b;
    }
}

template <typename T>
void batchnorm_backward(const T* gamma, const Seq<T>& in, const bool* valid, bool frozen,
                        const std::vector<T>& mean, const std::vector<T>& rstd, const Seq<T>& gout,
                        T* ggamma, T* gbeta, Seq<T>& gin) {
  const size_t F = in.F, L = in.L;
  gin.resize(L, F);
  size_t lanes = 0;
  for (size_t l = 0; l < kLanes; ++l) lanes += valid[l];
  if (lanes == 0) return;
  const T n = static_cast<T>(lanes * L);
  // xhat = (x - mean) * rstd; per feature over the valid elements:
  // dgamma = sum(g * xhat), dbeta = sum(g), dx = rstd * gamma * (g - dbeta/n - xhat * dgamma/n)
  std::vector<T> sg(F * kLanes, T(0)), sgx(F * kLanes, T(0));
  for (size_t t = 0; t < L; ++t)
    for (size_t f = 0; f < F; ++f) {
      const T* x = in.at(t, f);
      const T* g = gout.at(t, f);
      for (size_t l = 0; l < kLanes; ++l) {
        sg[f * kLanes + l] += g[l];
        sgx[f * kLanes + l] += g[l] * (x[l] - mean[f]) * rstd[f];
      }
    }
  std::vector<T> db(F, T(0)), dg(F, T(0));
  for (size_t f = 0; f < F; ++f) {
    for (size_t l = 0; l < kLanes; ++l)
      if (valid[l]) {
        db[f] += sg[f * kLanes + l];
        dg[f] += sgx[f * kLanes + l];
      }
    ggamma[f] += dg[f];
    gbeta[f] += db[f];
  }
  T mask[kLanes];
  for (size_t l = 0; l < kLanes; ++l) mask[l] = valid[l] ? T(1) : T(0);
  for (size_t t = 0; t < L; ++t)
    for (size_t f = 0; f < F; ++f) {
      const T* x = in.at(t, f);
      const T* g = gout.at(t, f);
      T* gx = gin.at(t, f);
      const T a = rstd[f] * gamma[f], mb = frozen ? T(0) : db[f] / n, mg = frozen ? T(0) : dg[f] / n;
      for (size_t l = 0; l < kLanes; ++l)
        gx[l] = mask[l] * a * (g[l] - mb - (x[l] - mean[f]) * rstd[f] * mg);
    }
}

namespace {
template <typename T>
T phi_cdf(T x) {
  return T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
}
template <typename T>
T phi_pdf(T x) {
  return T(0.39894228040143267794) * std::exp(T(-0.5) * x * x);
}
template <typename T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
}  // namespace

template <typename T>
void gelu_forward(const Seq<T>& in, Seq<T>& out) {
  out.resize(in.L, in.F);
  for (size_t i = 0; i < in.v.size(); ++i) out.v[i] = in.v[i] * phi_cdf(in.v[i]);
}

template <typename T>
void gelu_backward(const Seq<T>& in, const Seq<T>& gout, Seq<T>& gin, size_t threads) {
  gin.resize(in.L, in.F);
  parallel_ranges(in.v.size(), threads, [&](size_t, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) {
      const T x = in.v[i];
      gin.v[i] = gout.v[i] * (phi_cdf(x) + x * phi_pdf(x));
    }
  });
}

template <typename T>
void glu_forward(const Seq<T>& in, Seq<T>& out) {
  const size_t F = in.F / 2;
  out.resize(in.L, F);
  for (size_t t = 0; t < in.L; ++t)
    for (size_t f = 0; f < F; ++f) {
      const T* a = in.at(t, f);
      const T* g = in.at(t, f + F);
      T* y = out.at(t, f);
      for (size_t l = 0; l < kLanes; ++l) y[l] = a[l] * sigmoid(g[l]);
    }
}

template <typename T>
void glu_backward(const Seq<T>& in, const Seq<T>& gout, Seq<T>& gin, size_t threads) {
  const size_t F = in.F / 2;
  gin.resize(in.L, in.F);
  parallel_ranges(in.L, threads, [&](size_t, size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t)
      for (size_t f = 0; f < F; ++f) {
        const T* a = in.at(t, f);
        const T* g = in.at(t, f + F);
        const T* go = gout.at(t, f);
        T* ga = gin.at(t, f);
        T* gg = gin.at(t, f + F);
        for (size_t l = 0; l < kLanes; ++l) {
          const T s = sigmoid(g[l]);
          ga[l] = go[l] * s;
          gg[l] = go[l] * a[l] * s * (T(1) - s);
        }
      }
  });
}

template <typename T>
void gate_forward(const Seq<T>& x, const Seq<T>& g, Seq<T>& out) {
  out.resize(x.L, x.F);
  for (size_t i = 0; i < x.v.size(); ++i) out.v[i] = x.v[i] * sigmoid(g.v[i]);
}

template <typename T>
void gate_backward(const Seq<T>& x, const Seq<T>& g, const Seq<T>& gout, Seq<T>& gx, Seq<T>& gg) {
  gx.resize(x.L, x.F);
  gg.resize(x.L, x.F);
  for (size_t i = 0; i < x.v.size(); ++i) {
    const T s = sigmoid(g.v[i]);
    gx.v[i] = gout.v[i] * s;
    gg.v[i] = gout.v[i] * x.v[i] * s * (T(1) - s);
  }
}

template <typename T>
void dropout_apply(const std::vector<T>& mask, Seq<T>& x) {
  for (size_t t = 0; t < x.L; ++t)
    for (size_t f = 0; f < x.F; ++f) {
      T* p = x.at(t, f);
      const T* m = &mask[f * kLanes];
      for (size_t l = 0; l < kLanes; ++l) p[l] *= m[l];
    }
}

template <typename T>
void mean_pool_forward(const Seq<T>& in, std::vector<T>& out) {
  out.assign(in.F * kLanes, T(0));
  for (size_t t = 0; t < in.L; ++t)
    for (size_t f = 0; f < in.F; ++f) {
      const T* x = in.at(t, f);
      for (size_t l = 0; l < kLanes; ++l) out[f * kLanes + l] += x[l];
    }
  for (auto& v : out) v /= T(in.L);
}

template <typename T>
void mean_pool_backward(const std::vector<T>& gout, Seq<T>& gin) {
  const T s = T(1) / T(gin.L);
  for (size_t t = 0; t < gin.L; ++t)
    for (size_t f = 0; f < gin.F; ++f) {
      T* g = gin.at(t, f);
      for (size_t l = 0; l < kLanes; ++l) g[l] = gout[f * kLanes + l] * s;
    }
}

template <typename T>
T softmax_xent(const std::vector<T>& logits, size_t C, const int32_t* labels,
               std::vector<T>& glogits, size_t* correct) {
  glogits.assign(C * kLanes, T(0));
  T loss = 0;
  for (size_t l = 0; l < kLanes; ++l) {
    if (labels[l] < 0) continue;
    T mx = logits[l];
    size_t arg = 0;
    for (size_t c = 1; c < C; ++c)
      if (logits[c * kLanes + l] > mx) {
        mx = logits[c * kLanes + l];
        arg = c;
      }
    T z = 0;
    for (size_t c = 0; c < C; ++c) z += std::exp(logits[c * kLanes + l] - mx);
    const auto y = static_cast<size_t>(labels[l]);
    loss += std::log(z) - (logits[y * kLanes + l] - mx);
    for (size_t c = 0; c < C; ++c)
      glogits[c * kLanes + l] = std::exp(logits[c * kLanes + l] - mx) / z - (c == y ? T(1) : T(0));
    if (correct && arg == y) ++*correct;
  }
  return loss;
}

template <typename T>
T distill_xent(const std::vector<T>& logits, size_t C, const int32_t* labels, const DistillTargets& d,
               std::vector<T>& glogits, size_t* correct) {
  T loss = softmax_xent(logits, C, labels, glogits, correct);
  if (d.weight == 0) return loss;
  const T w = static_cast<T>(d.weight), tau = static_cast<T>(d.temperature);
  loss *= T(1) - w;
  std::vector<T> ps(C), pt(C);
  // p = softmax(v / tau) of the C values v_c = at(c); shift = logsumexp(v / tau), so that
  // log p_c = v_c / tau - shift
  auto soft = [&](auto at, std::vector<T>& p, T& shift) {
    T mx = at(0) / tau;
    for (size_t c = 1; c < C; ++c) mx = std::max(mx, at(c) / tau);
    T z = 0;
    for (size_t c = 0; c < C; ++c) z += (p[c] = std::exp(at(c) / tau - mx));
    for (size_t c = 0; c < C; ++c) p[c] /= z;
    shift = mx + std::log(z);
  };
  for (size_t l = 0; l < kLanes; ++l) {
    if (labels[l] < 0) continue;
    T ss, st;
    soft([&](size_t c) { return logits[c * kLanes + l]; }, ps, ss);
    soft([&](size_t c) { return static_cast<T>(d.teacher[l][c]); }, pt, st);
    T kl = 0;
    for (size_t c = 0; c < C; ++c) {
      const T lt = static_cast<T>(d.teacher[l][c]) / tau - st, ls = logits[c * kLanes + l] / tau - ss;
      kl += pt[c] * (lt - ls);
      T& g = glogits[c * kLanes + l];
      g = (T(1) - w) * g + w * tau * (ps[c] - pt[c]);
    }
    loss += w * tau * tau * kl;
  }
  return loss;
}

#define SSMSIM_INSTANTIATE(T)                                                                                          \
  template void linear_forward<T>(const T*, const T*, size_t, const Seq<T>&, Seq<T>&);                                 \
  template void linear_backward<T>(const T*, size_t, const Seq<T>&, const Seq<T>&, T*, T*, Seq<T>*, size_t);           \
  template void layernorm_forward<T>(const T*, const T*, const Seq<T>&, Seq<T>&, std::vector<T>&, std::vector<T>&, T); \
  template void layernorm_backward<T>(const T*, const Seq<T>&, const std::vector<T>&, const std::vector<T>&,           \
                                      const Seq<T>&, T*, T*, Seq<T>&);                                                 \
  template void batchnorm_forward<T>(const T*, const T*, const T*, const T*, const Seq<T>&, const bool*, Seq<T>&,      \
                                     std::vector<T>&, std::vector<T>&, std::vector<T>&, T);                            \
  template void batchnorm_backward<T>(const T*, const Seq<T>&, const bool*, bool, const std::vector<T>&,               \
                                      const std::vector<T>&, const Seq<T>&, T*, T*, Seq<T>&);                          \
  template void gelu_forward<T>(const Seq<T>&, Seq<T>&);                                                               \
  template void gelu_backward<T>(const Seq<T>&, const Seq<T>&, Seq<T>&, size_t);                                       \
  template void glu_forward<T>(const Seq<T>&, Seq<T>&);                                                                \
  template void glu_backward<T>(const Seq<T>&, const Seq<T>&, Seq<T>&, size_t);                                        \
  template void gate_forward<T>(const Seq<T>&, const Seq<T>&, Seq<T>&);                                                \
  template void gate_backward<T>(const Seq<T>&, const Seq<T>&, const Seq<T>&, Seq<T>&, Seq<T>&);                       \
  template void dropout_apply<T>(const std::vector<T>&, Seq<T>&);                                                      \
  template void mean_pool_forward<T>(const Seq<T>&, std::vector<T>&);                                                  \
  template void mean_pool_backward<T>(const std::vector<T>&, Seq<T>&);                                                 \
  template T softmax_xent<T>(const std::vector<T>&, size_t, const int32_t*, std::vector<T>&, size_t*);                 \
  template T distill_xent<T>(const std::vector<T>&, size_t, const int32_t*, const DistillTargets&, std::vector<T>&,    \
                             size_t*);

SSMSIM_INSTANTIATE(float)
SSMSIM_INSTANTIATE(double)
#undef SSMSIM_INSTANTIATE

}  // namespace ssmsim::core
