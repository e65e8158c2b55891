#include "ssm_core/s5.hpp"

#include <Eigen/Eigenvalues>
#include <cmath>
#include <cstring>

#include "quant/errors.hpp"
#include "ssm_core/layers.hpp"
#include "ssm_core/random.hpp"

namespace ssmsim::core {

using cd = std::complex<double>;

S5Offsets s5_register(ParamLayout& layout, const std::string& prefix, size_t H, size_t P2) {
  S5Offsets o;
  o.H = H;
  o.P2 = P2;
  const auto h = static_cast<int64_t>(H), p = static_cast<int64_t>(P2);
  o.Lambda_re = layout.add(prefix + "Lambda_re", {p}, ParamGroup::Ssm);
  o.Lambda_im = layout.add(prefix + "Lambda_im", {p}, ParamGroup::Ssm);
  o.B = layout.add(prefix + "B", {p, h, 2}, ParamGroup::Ssm);
  o.C = layout.add(prefix + "C", {h, p, 2}, ParamGroup::Regular);
  o.D = layout.add(prefix + "D", {h}, ParamGroup::Regular);
  o.log_step = layout.add(prefix + "log_step", {p, 1}, ParamGroup::Ssm);
  return o;
}

std::vector<double> hippo_legs(size_t N) {
  std::vector<double> A(N * N, 0.0);
  for (size_t n = 0; n < N; ++n)
    for (size_t k = 0; k <= n; ++k) {
      const double pp = std::sqrt((2.0 * static_cast<double>(n) + 1.0) * (2.0 * static_cast<double>(k) + 1.0));
      // -(tril(p p^T) - diag(n)): the diagonal is -(2n + 1) + n = -(n + 1), written exactly
      A[n * N + k] = n == k ? -(static_cast<double>(n) + 1.0) : -pp;
    }
  return A;
}

std::vector<double> hippo_legs_normal(size_t N) {
  std::vector<double> S = hippo_legs(N);
  // + p p^T, p_n = sqrt(n + 1/2); the diagonal exactly n + 1/2, so diag(S) = -1/2 exactly
  for (size_t n = 0; n < N; ++n)
    for (size_t k = 0; k < N; ++k)
      S[n * N + k] += n == k ? static_cast<double>(n) + 0.5
                             : std::sqrt((static_cast<double>(n) + 0.5) * (static_cast<double>(k) + 0.5));
  return S;
}

DplrHippo make_dplr_hippo(size_t N) {
  const std::vector<double> S = hippo_legs_normal(N);
  double mean_diag = 0;
  for (size_t n = 0; n < N; ++n) mean_diag += S[n * N + n];
  mean_diag /= static_cast<double>(N);
  // eigh(S * -1j): jax symmetrises its input, (M + M^H) / 2, which for M = -i S leaves -i K with K
  // the skew-symmetric part of S. Eigen's solver returns ascending eigenvalues, as eigh does.
  const auto n = static_cast<Eigen::Index>(N);
  Eigen::MatrixXcd M(n, n);
  for (Eigen::Index r = 0; r < n; ++r)
    for (Eigen::Index c = 0; c < n; ++c) {
      const double skew = 0.5 * (S[static_cast<size_t>(r) * N + static_cast<size_t>(c)] -
                                 S[static_cast<size_t>(c) * N + static_cast<size_t>(r)]);
      M(r, c) = cd(0.0, -skew);
    }
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXcd> es(M);
  if (es.info() != Eigen::Success) throw InputError("HiPPO-LegS diagonalisation failed (N = " + std::to_string(N) + ")");
  DplrHippo d;
  d.Lambda.resize(N);
  d.V.resize(N * N);
  for (Eigen::Index k = 0; k < n; ++k) d.Lambda[static_cast<size_t>(k)] = cd(mean_diag, es.eigenvalues()(k));
  for (Eigen::Index r = 0; r < n; ++r)
    for (Eigen::Index c = 0; c < n; ++c)
      d.V[static_cast<size_t>(r) * N + static_cast<size_t>(c)] = es.eigenvectors()(r, c);
  return d;
}

namespace {

// jax.nn.initializers.lecun_normal: a standard normal truncated to [-2, 2], scaled so the result
// has variance 1 / fan_in (0.8796... is the truncated distribution's standard deviation).
double lecun_normal(std::mt19937_64& rng, double fan_in) {
  double z = normal(rng);
  while (z < -2.0 || z > 2.0) z = normal(rng);
  return z * std::sqrt(1.0 / fan_in) / 0.87962566103423978;
}

}  // namespace

void s5_init(const S5Offsets& o, size_t P, size_t J, bool conj_sym, S5CInit c_init, double dt_min,
             double dt_max, std::mt19937_64& rng, double* p) {
  const size_t H = o.H;
  if (J == 0 || P % J != 0 || (conj_sym && (P / J) % 2 != 0) || o.P2 != (conj_sym ? P / 2 : P))
    throw InputError("S5 initialisation: P = " + std::to_string(P) + " with J = " + std::to_string(J) +
                     " blocks does not give " + std::to_string(o.P2) + " stored states");
  const size_t bs = P / J, bh = conj_sym ? bs / 2 : bs;  // block size, stored states per block
  const DplrHippo hippo = make_dplr_hippo(bs);
  auto V = [&](size_t n, size_t k) { return hippo.V[n * bs + k]; };
  for (size_t j = 0; j < J; ++j)
    for (size_t k = 0; k < bh; ++k) {
      p[o.Lambda_re + j * bh + k] = hippo.Lambda[k].real();
      p[o.Lambda_im + j * bh + k] = hippo.Lambda[k].imag();
    }
  // B_tilde = Vinv B, B ~ lecun_normal (P, H): jax's fan_in is the size of axis -2, here P
  std::vector<double> B(P * H);
  for (auto& v : B) v = lecun_normal(rng, static_cast<double>(P));
  for (size_t j = 0; j < J; ++j)
    for (size_t k = 0; k < bh; ++k)
      for (size_t h = 0; h < H; ++h) {
        cd acc = 0;
        for (size_t n = 0; n < bs; ++n) acc += std::conj(V(n, k)) * B[(j * bs + n) * H + h];
        const size_t i = o.B + ((j * bh + k) * H + h) * 2;
        p[i] = acc.real();
        p[i + 1] = acc.imag();
      }
  if (c_init == S5CInit::ComplexNormal) {
    for (size_t i = 0; i < H * o.P2 * 2; ++i) p[o.C + i] = normal(rng) * std::sqrt(0.5);
  } else {
    // C (H, P) complex, then C_tilde = C V
    const double fan_in = c_init == S5CInit::TruncStandardNormal ? static_cast<double>(P)
                                                                 : static_cast<double>(P * H);
    std::vector<cd> C(H * P);
    for (auto& c : C) {
      const double re = lecun_normal(rng, fan_in);
      c = cd(re, lecun_normal(rng, fan_in));
    }
    for (size_t h = 0; h < H; ++h)
      for (size_t j = 0; j < J; ++j)
        for (size_t k = 0; k < bh; ++k) {
          cd acc = 0;
          for (size_t n = 0; n < bs; ++n) acc += C[h * P + j * bs + n] * V(n, k);
          const size_t i = o.C + (h * o.P2 + j * bh + k) * 2;
          p[i] = acc.real();
          p[i + 1] = acc.imag();
        }
  }
  for (size_t h = 0; h < H; ++h) p[o.D + h] = normal(rng);
  for (size_t i = 0; i < o.P2; ++i)
    p[o.log_step + i] = std::log(dt_min) + uniform01(rng) * (std::log(dt_max) - std::log(dt_min));
}

namespace {

struct Discrete {
  cd Lambda, Lambda_bar, beta;  // B_bar[p, :] = beta B_tilde[p, :]
  double step = 0;
};

template <typename T>
Discrete discrete_at(const S5Offsets& o, const T* p, const S5Options& opt, size_t i) {
  Discrete d;
  d.step = opt.step_rescale * std::exp(static_cast<double>(p[o.log_step + i]));
  d.Lambda = cd(static_cast<double>(p[o.Lambda_re + i]), static_cast<double>(p[o.Lambda_im + i]));
  const DiagonalDiscrete k = discretize_diagonal(d.Lambda, d.step, opt.discretization);
  d.Lambda_bar = k.Lambda_bar;
  d.beta = k.beta;
  return d;
}

}  // namespace

template <typename T>
void s5_discretize(const S5Offsets& o, const T* p, const S5Options& opt, S5Coeffs<T>& k) {
  const size_t H = o.H, P2 = o.P2;
  const double s = opt.conj_sym ? 2.0 : 1.0;
  k.H = H;
  k.P2 = P2;
  k.Lr.resize(P2), k.Li.resize(P2);
  k.Wb.resize(2 * P2 * H);
  k.Wc.resize(H * 2 * P2);
  k.D.resize(H);
  for (size_t i = 0; i < P2; ++i) {
    const Discrete d = discrete_at(o, p, opt, i);
    k.Lr[i] = static_cast<T>(d.Lambda_bar.real());
    k.Li[i] = static_cast<T>(d.Lambda_bar.imag());
    for (size_t h = 0; h < H; ++h) {
      const size_t b = o.B + (i * H + h) * 2;
      const cd Bb = d.beta * cd(static_cast<double>(p[b]), static_cast<double>(p[b + 1]));
      k.Wb[2 * i * H + h] = static_cast<T>(Bb.real());
      k.Wb[(2 * i + 1) * H + h] = static_cast<T>(Bb.imag());
    }
  }
  for (size_t h = 0; h < H; ++h) {
    k.D[h] = p[o.D + h];
    for (size_t i = 0; i < P2; ++i) {
      const size_t c = o.C + (h * P2 + i) * 2;
      k.Wc[h * 2 * P2 + 2 * i] = static_cast<T>(s * static_cast<double>(p[c]));
      k.Wc[h * 2 * P2 + 2 * i + 1] = static_cast<T>(-s * static_cast<double>(p[c + 1]));
    }
  }
}

namespace {

// MB states p0..p0+MB-1 over the whole sequence, in place: xs holds B_bar u_t on entry and x_t on
// exit. The MB states' real and imaginary parts are contiguous at each step (features 2 p0 ..
// 2 (p0 + MB) - 1); staged in local arrays, which alias nothing, each lane loop is whole vectors.
template <typename T, size_t MB>
[[gnu::always_inline]] inline void scan_forward(const S5Coeffs<T>& k, Seq<T>& xs, size_t p0) {
  constexpr size_t W = kLanes;
  const size_t L = xs.L;
  T lr[MB], li[MB];
  for (size_t m = 0; m < MB; ++m) lr[m] = k.Lr[p0 + m], li[m] = k.Li[p0 + m];
  T xr[MB][W] = {}, xi[MB][W] = {};
  for (size_t t = 0; t < L; ++t) {
    T* cur = xs.at(t, 2 * p0);
    T b[2 * MB][W];
    std::memcpy(b, cur, sizeof b);
    for (size_t m = 0; m < MB; ++m)
      for (size_t l = 0; l < W; ++l) {
        const T nr = lr[m] * xr[m][l] - li[m] * xi[m][l] + b[2 * m][l];
        const T ni = lr[m] * xi[m][l] + li[m] * xr[m][l] + b[2 * m + 1][l];
        xr[m][l] = nr;
        xi[m][l] = ni;
      }
    for (size_t m = 0; m < MB; ++m) {
      std::memcpy(cur + 2 * m * W, xr[m], sizeof xr[m]);
      std::memcpy(cur + (2 * m + 1) * W, xi[m], sizeof xi[m]);
    }
  }
}

// The adjoint recurrence of MB states, in place: gs holds G_x_t (from the output) on entry and
// lambda_t = G_x_t + conj(Lambda_bar) lambda_{t+1} on exit. gl [P2][re, im][lanes] receives
// G_Lambda_bar = sum_t conj(x_{t-1}) lambda_t per lane.
template <typename T, size_t MB>
[[gnu::always_inline]] inline void scan_backward(const S5Coeffs<T>& k, const Seq<T>& xs, Seq<T>& gs, size_t p0,
                                                 T* gl) {
  constexpr size_t W = kLanes;
  const size_t L = xs.L;
  T lr[MB], li[MB];
  for (size_t m = 0; m < MB; ++m) lr[m] = k.Lr[p0 + m], li[m] = k.Li[p0 + m];
  T ar[MB][W] = {}, ai[MB][W] = {}, glr[MB][W] = {}, gli[MB][W] = {};
  for (size_t tt = L; tt-- > 0;) {
    T* cur = gs.at(tt, 2 * p0);
    T g[2 * MB][W];
    std::memcpy(g, cur, sizeof g);
    for (size_t m = 0; m < MB; ++m)
      for (size_t l = 0; l < W; ++l) {
        const T nr = g[2 * m][l] + lr[m] * ar[m][l] + li[m] * ai[m][l];
        const T ni = g[2 * m + 1][l] + lr[m] * ai[m][l] - li[m] * ar[m][l];
        ar[m][l] = nr;
        ai[m][l] = ni;
      }
    for (size_t m = 0; m < MB; ++m) {
      std::memcpy(cur + 2 * m * W, ar[m], sizeof ar[m]);
      std::memcpy(cur + (2 * m + 1) * W, ai[m], sizeof ai[m]);
    }
    if (tt == 0) break;
    T x[2 * MB][W];
    std::memcpy(x, xs.at(tt - 1, 2 * p0), sizeof x);
    for (size_t m = 0; m < MB; ++m)
      for (size_t l = 0; l < W; ++l) {
        glr[m][l] += x[2 * m][l] * ar[m][l] + x[2 * m + 1][l] * ai[m][l];
        gli[m][l] += x[2 * m][l] * ai[m][l] - x[2 * m + 1][l] * ar[m][l];
      }
  }
  for (size_t m = 0; m < MB; ++m) {
    std::memcpy(gl + (p0 + m) * 2 * W, glr[m], sizeof glr[m]);
    std::memcpy(gl + (p0 + m) * 2 * W + W, gli[m], sizeof gli[m]);
  }
}

template <typename T>
SSMSIM_MULTIVERSION void s5_scan_forward(const S5Coeffs<T>& k, Seq<T>& xs) {
  // 4 independent recurrences interleaved hide each one's dependency chain
  size_t p = 0;
  for (; p + 4 <= k.P2; p += 4) scan_forward<T, 4>(k, xs, p);
  for (; p < k.P2; ++p) scan_forward<T, 1>(k, xs, p);
}

template <typename T>
SSMSIM_MULTIVERSION void s5_scan_backward(const S5Coeffs<T>& k, const Seq<T>& xs, Seq<T>& gs, T* gl) {
  // blocks of 4, as the forward: some accumulators spill, but each step then reads and writes
  // whole 128-byte runs of the [t][2 P2][lanes] buffers (blocks of 2 measured 2x slower)
  size_t p = 0;
  for (; p + 4 <= k.P2; p += 4) scan_backward<T, 4>(k, xs, gs, p, gl);
  for (; p < k.P2; ++p) scan_backward<T, 1>(k, xs, gs, p, gl);
}

}  // namespace

template <typename T>
void s5_forward(const S5Coeffs<T>& k, const Seq<T>& u, Seq<T>& y, Seq<T>& xs) {
  const size_t L = u.L, H = k.H;
  constexpr size_t W = kLanes;
  linear_forward(k.Wb.data(), static_cast<const T*>(nullptr), 2 * k.P2, u, xs);  // B_bar u_t
  s5_scan_forward(k, xs);                                                       // x_t
  linear_forward(k.Wc.data(), static_cast<const T*>(nullptr), H, xs, y);        // s Re(C x_t)
  for (size_t t = 0; t < L; ++t)
    for (size_t h = 0; h < H; ++h) {
      const T* uu = u.at(t, h);
      T* yy = y.at(t, h);
      for (size_t l = 0; l < W; ++l) yy[l] += k.D[h] * uu[l];
    }
}

template <typename T>
void s5_backward(const S5Offsets& o, const T* p, const S5Options& opt, const S5Coeffs<T>& k,
                 const Seq<T>& u, const Seq<T>& xs, const Seq<T>& gy, Seq<T>& gu, Seq<T>& gs, T* grad,
                 CoeffGrad* cg) {
  const size_t L = u.L, H = k.H, P2 = k.P2;
  constexpr size_t W = kLanes;
  // y = Wc x + D u: gs = G_x (= s sum_h g_h conj(C_hp) as a complex number), gWc = sum_t g x^T
  std::vector<T> gWc(H * 2 * P2, T(0)), gWb(2 * P2 * H, T(0)), gl(P2 * 2 * W, T(0)), gd(H * W, T(0));
  linear_backward(k.Wc.data(), H, xs, gy, gWc.data(), static_cast<T*>(nullptr), &gs);
  s5_scan_backward(k, xs, gs, gl.data());  // gs = lambda
  // Bu = Wb u: G_B_bar = sum_t lambda u^T, gu = Re(B_bar^H lambda)
  linear_backward(k.Wb.data(), 2 * P2, u, gs, gWb.data(), static_cast<T*>(nullptr), &gu);
  for (size_t t = 0; t < L; ++t)
    for (size_t h = 0; h < H; ++h) {
      const T* g = gy.at(t, h);
      const T* uu = u.at(t, h);
      T* gx = gu.at(t, h);
      for (size_t l = 0; l < W; ++l) {
        gx[l] += k.D[h] * g[l];
        gd[h * W + l] += g[l] * uu[l];
      }
    }

  // lanes in a fixed order, then the chain through the discretization (in double)
  auto lane_sum = [&](const T* v) {
    double s = 0;
    for (size_t l = 0; l < W; ++l) s += static_cast<double>(v[l]);
    return s;
  };
  const double s = opt.conj_sym ? 2.0 : 1.0;
  for (size_t h = 0; h < H; ++h) {
    grad[o.D + h] += static_cast<T>(lane_sum(&gd[h * W]));
    for (size_t i = 0; i < P2; ++i) {
      // Wc[h][2i] = s Re C, Wc[h][2i + 1] = -s Im C
      grad[o.C + (h * P2 + i) * 2] += static_cast<T>(s * static_cast<double>(gWc[h * 2 * P2 + 2 * i]));
      grad[o.C + (h * P2 + i) * 2 + 1] += static_cast<T>(-s * static_cast<double>(gWc[h * 2 * P2 + 2 * i + 1]));
    }
  }
  for (size_t i = 0; i < P2; ++i) {
    const Discrete d = discrete_at(o, p, opt, i);
    const cd G_L(lane_sum(&gl[i * 2 * W]), lane_sum(&gl[i * 2 * W + W]));
    if (cg) cg->lambda_bar[i] += G_L;
    // B_bar[i, h] = beta B_tilde[i, h]: G_B_tilde = conj(beta) G_B_bar, G_beta = sum_h conj(B_tilde) G_B_bar
    cd G_beta = 0;
    for (size_t h = 0; h < H; ++h) {
      const size_t b = o.B + (i * H + h) * 2;
      const cd G_Bb(static_cast<double>(gWb[2 * i * H + h]), static_cast<double>(gWb[(2 * i + 1) * H + h]));
      if (cg) cg->b_bar[i * H + h] += G_Bb;
      const cd Bt(static_cast<double>(p[b]), static_cast<double>(p[b + 1]));
      G_beta += std::conj(Bt) * G_Bb;
      const cd G_Bt = std::conj(d.beta) * G_Bb;
      grad[b] += static_cast<T>(G_Bt.real());
      grad[b + 1] += static_cast<T>(G_Bt.imag());
    }
    double g_step = 0;
    const cd G_La = discretize_diagonal_backward(d.Lambda, d.step, opt.discretization, G_L, G_beta, &g_step);
    grad[o.Lambda_re + i] += static_cast<T>(G_La.real());
    grad[o.Lambda_im + i] += static_cast<T>(G_La.imag());
    // step = step_rescale exp(log_step)
    grad[o.log_step + i] += static_cast<T>(g_step * d.step);
  }
}

template void s5_discretize<float>(const S5Offsets&, const float*, const S5Options&, S5Coeffs<float>&);
template void s5_discretize<double>(const S5Offsets&, const double*, const S5Options&, S5Coeffs<double>&);
template void s5_forward<float>(const S5Coeffs<float>&, const Seq<float>&, Seq<float>&, Seq<float>&);
template void s5_forward<double>(const S5Coeffs<double>&, const Seq<double>&, Seq<double>&, Seq<double>&);
template void s5_backward<float>(const S5Offsets&, const float*, const S5Options&, const S5Coeffs<float>&,
                                 const Seq<float>&, const Seq<float>&, const Seq<float>&, Seq<float>&,
                                 Seq<float>&, float*, CoeffGrad*);
template void s5_backward<double>(const S5Offsets&, const double*, const S5Options&, const S5Coeffs<double>&,
                                  const Seq<double>&, const Seq<double>&, const Seq<double>&, Seq<double>&,
                                  Seq<double>&, double*, CoeffGrad*);

}  // namespace ssmsim::core
