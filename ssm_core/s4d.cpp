#include "ssm_core/s4d.hpp"

#include <cmath>
#include <complex>
#include <cstring>
#include <stdexcept>

#include <unsupported/Eigen/FFT>

#include "ssm_core/random.hpp"

namespace ssmsim::core {

using cd = std::complex<double>;

S4DOffsets s4d_register(ParamLayout& layout, const std::string& prefix, size_t H, size_t N2) {
  S4DOffsets o;
  o.H = H;
  o.N2 = N2;
  const auto h = static_cast<int64_t>(H), n = static_cast<int64_t>(N2);
  o.log_dt = layout.add(prefix + "kernel.log_dt", {h}, ParamGroup::Ssm);
  o.log_A_real = layout.add(prefix + "kernel.log_A_real", {h, n}, ParamGroup::Ssm);
  o.A_imag = layout.add(prefix + "kernel.A_imag", {h, n}, ParamGroup::Ssm);
  o.C = layout.add(prefix + "kernel.C", {h, n, 2}, ParamGroup::Regular);
  o.D = layout.add(prefix + "D", {h}, ParamGroup::Regular);
  return o;
}

void s4d_init(const S4DOffsets& o, S4DInit init, double dt_min, double dt_max, std::mt19937_64& rng,
              double* p) {
  const double N = 2.0 * static_cast<double>(o.N2);
  for (size_t h = 0; h < o.H; ++h) {
    p[o.log_dt + h] = std::log(dt_min) + uniform01(rng) * (std::log(dt_max) - std::log(dt_min));
    for (size_t n = 0; n < o.N2; ++n) {
      const double dn = static_cast<double>(n);
      p[o.log_A_real + h * o.N2 + n] = std::log(0.5);
      p[o.A_imag + h * o.N2 + n] =
          init == S4DInit::Lin ? M_PI * dn : (N / M_PI) * (N / (2.0 * dn + 1.0) - 1.0);
      p[o.C + (h * o.N2 + n) * 2 + 0] = normal(rng) * std::sqrt(0.5);
      p[o.C + (h * o.N2 + n) * 2 + 1] = normal(rng) * std::sqrt(0.5);
    }
  }
  for (size_t h = 0; h < o.H; ++h) p[o.D + h] = normal(rng);
}

namespace {

struct Discrete {
  cd A, Lambda_bar, B_bar, dt;
};

template <typename T>
Discrete discrete_at(const S4DOffsets& o, const T* p, Discretization disc, size_t h, size_t n) {
  const size_t i = h * o.N2 + n;
  const double dt = std::exp(static_cast<double>(p[o.log_dt + h]));
  const cd A(-std::exp(static_cast<double>(p[o.log_A_real + i])), static_cast<double>(p[o.A_imag + i]));
  Discrete d;
  d.A = A;
  d.dt = dt;
  const DiagonalDiscrete k = discretize_diagonal(A, dt, disc);  // B = 1: B_bar = beta
  d.Lambda_bar = k.Lambda_bar;
  d.B_bar = k.beta;
  return d;
}

}  // namespace

template <typename T>
void s4d_discretize(const S4DOffsets& o, const T* p, Discretization disc, S4DCoeffs<T>& k) {
  const size_t M = o.H * o.N2;
  k.H = o.H;
  k.N2 = o.N2;
  k.Lr.resize(M), k.Li.resize(M), k.Br.resize(M), k.Bi.resize(M), k.Cr.resize(M), k.Ci.resize(M);
  k.D.resize(o.H);
  for (size_t h = 0; h < o.H; ++h) {
    k.D[h] = p[o.D + h];
    for (size_t n = 0; n < o.N2; ++n) {
      const size_t i = h * o.N2 + n;
      const Discrete d = discrete_at(o, p, disc, h, n);
      k.Lr[i] = static_cast<T>(d.Lambda_bar.real());
      k.Li[i] = static_cast<T>(d.Lambda_bar.imag());
      k.Br[i] = static_cast<T>(d.B_bar.real());
      k.Bi[i] = static_cast<T>(d.B_bar.imag());
      k.Cr[i] = p[o.C + 2 * i];
      k.Ci[i] = p[o.C + 2 * i + 1];
    }
  }
}

namespace {

// MB modes n0..n0+MB-1 of channel h over the whole sequence.
template <typename T, size_t MB>
[[gnu::always_inline]] inline void forward_modes(const S4DCoeffs<T>& k, const Seq<T>& u, Seq<T>& y, std::vector<T>& states,
                          size_t h, size_t n0) {
  const size_t L = u.L, N2 = k.N2;
  constexpr size_t W = kLanes;
  T lr[MB], li[MB], br[MB], bi[MB], cr[MB], ci[MB];
  T* st[MB];
  for (size_t m = 0; m < MB; ++m) {
    const size_t i = h * N2 + n0 + m;
    lr[m] = k.Lr[i], li[m] = k.Li[i], br[m] = k.Br[i], bi[m] = k.Bi[i];
    cr[m] = 2 * k.Cr[i], ci[m] = 2 * k.Ci[i];
    st[m] = &states[i * L * 2 * W];
  }
  // Everything a step touches is staged in local arrays, which provably alias nothing, so each
  // lane loop compiles to whole-vector operations.
  T xr[MB][W] = {}, xi[MB][W] = {};
  for (size_t t = 0; t < L; ++t) {
    T ul[W], acc[W];
    std::memcpy(ul, u.at(t, h), sizeof ul);
    std::memcpy(acc, y.at(t, h), sizeof acc);
    for (size_t m = 0; m < MB; ++m) {
      T nr[W], ni[W];
      for (size_t l = 0; l < W; ++l) {
        nr[l] = lr[m] * xr[m][l] - li[m] * xi[m][l] + br[m] * ul[l];
        ni[l] = lr[m] * xi[m][l] + li[m] * xr[m][l] + bi[m] * ul[l];
      }
      for (size_t l = 0; l < W; ++l) {
        xr[m][l] = nr[l];
        xi[m][l] = ni[l];
        acc[l] += cr[m] * nr[l] - ci[m] * ni[l];
      }
      T* cur = st[m] + t * 2 * W;
      std::memcpy(cur, nr, sizeof nr);
      std::memcpy(cur + W, ni, sizeof ni);
    }
    std::memcpy(y.at(t, h), acc, sizeof acc);
  }
}

}  // namespace

template <typename T>
SSMSIM_MULTIVERSION void s4d_forward(const S4DCoeffs<T>& k, const Seq<T>& u, Seq<T>& y, std::vector<T>& states) {
  const size_t L = u.L, H = k.H, N2 = k.N2;
  constexpr size_t W = kLanes;
  y.resize(L, H);
  states.resize(H * N2 * L * 2 * W);
  for (size_t h = 0; h < H; ++h) {
    for (size_t t = 0; t < L; ++t) {
      const T* uu = u.at(t, h);
      T* yy = y.at(t, h);
      for (size_t l = 0; l < W; ++l) yy[l] = k.D[h] * uu[l];
    }
    // modes in blocks of 4, time innermost: the states stay in registers, and 4 independent
    // recurrences hide the latency of each one's dependency chain
    size_t n = 0;
    for (; n + 4 <= N2; n += 4) forward_modes<T, 4>(k, u, y, states, h, n);
    for (; n < N2; ++n) forward_modes<T, 1>(k, u, y, states, h, n);
  }
}

// n codes times scale, as T.
template <typename T, typename Code>
[[gnu::always_inline]] inline void dequantize(const Code* q, size_t n, double scale, T* out) {
  for (size_t e = 0; e < n; ++e) out[e] = static_cast<T>(static_cast<double>(q[e]) * scale);
}

// The adjoint recurrence of MB modes n .. n + MB - 1 of channel h over the whole sequence, in
// one time loop: independent chains hide each other's latency. Each mode's arithmetic is the one
// of a mode alone, and gu(t) takes the modes' terms in mode order: the same bits for any MB.
// buf: MB modes' dequantized states where the states come as codes.
template <typename T, size_t MB>
[[gnu::always_inline]] inline void backward_modes(const S4DCoeffs<T>& k, const Seq<T>& u, const S4DStates<T>& states,
                                                  const Seq<T>& gy, Seq<T>& gu, T* gc, T* gl, T* gb, size_t h, size_t n,
                                                  T* buf) {
  const size_t L = u.L, N2 = k.N2;
  constexpr size_t W = kLanes;
  T lr[MB], li[MB], br[MB], bi[MB], cr[MB], ci[MB];
  const T* st[MB];
  for (size_t j = 0; j < MB; ++j) {
    const size_t i = h * N2 + n + j;
    lr[j] = k.Lr[i], li[j] = k.Li[i], br[j] = k.Br[i], bi[j] = k.Bi[i];
    cr[j] = 2 * k.Cr[i], ci[j] = 2 * k.Ci[i];
    st[j] = states.values + i * L * 2 * W;
    if (states.codes || states.codes16) {
      T* b = buf + j * L * 2 * W;
      if (states.codes16)
        dequantize(states.codes16 + i * L * 2 * W, L * 2 * W, states.scale, b);
      else
        dequantize(states.codes + i * L * 2 * W, L * 2 * W, states.scale, b);
      st[j] = b;
    }
  }
  // the adjoint states lambda and every accumulator stay in registers over the time loop
  T lar[MB][W] = {}, lai[MB][W] = {}, gcr[MB][W] = {}, gci[MB][W] = {}, glr[MB][W] = {}, gli[MB][W] = {},
    gbr[MB][W] = {}, gbi[MB][W] = {};
  for (size_t tt = L; tt-- > 0;) {
    // direct loads: staging these in locals as the forward does would need more vector
    // registers than AVX2 has and spill
    const T* g = gy.at(tt, h);
    const T* uu = u.at(tt, h);
    T* gx = gu.at(tt, h);
    for (size_t j = 0; j < MB; ++j) {
      const T* cur = st[j] + tt * 2 * W;
      for (size_t l = 0; l < W; ++l) {
        // lambda_t = 2 g conj(C) + conj(Lambda_bar) lambda_{t+1}
        const T nr = cr[j] * g[l] + lr[j] * lar[j][l] + li[j] * lai[j][l];
        const T ni = -ci[j] * g[l] + lr[j] * lai[j][l] - li[j] * lar[j][l];
        lar[j][l] = nr;
        lai[j][l] = ni;
        // gC += 2 g conj(x_t)
        gcr[j][l] += 2 * g[l] * cur[l];
        gci[j][l] -= 2 * g[l] * cur[W + l];
        // gB_bar += u lambda_t; gu += Re(conj(B_bar) lambda_t)
        gbr[j][l] += uu[l] * nr;
        gbi[j][l] += uu[l] * ni;
        gx[l] += br[j] * nr + bi[j] * ni;
      }
      // gLambda_bar += conj(x_{t-1}) lambda_t
      if (tt > 0) {
        const T* prev = cur - 2 * W;
        for (size_t l = 0; l < W; ++l) {
          glr[j][l] += prev[l] * lar[j][l] + prev[W + l] * lai[j][l];
          gli[j][l] += prev[l] * lai[j][l] - prev[W + l] * lar[j][l];
        }
      }
    }
  }
  for (size_t j = 0; j < MB; ++j) {
    const size_t i = h * N2 + n + j;
    for (size_t l = 0; l < W; ++l) {
      gc[i * 2 * W + l] = gcr[j][l];
      gc[i * 2 * W + W + l] = gci[j][l];
      gl[i * 2 * W + l] = glr[j][l];
      gl[i * 2 * W + W + l] = gli[j][l];
      gb[i * 2 * W + l] = gbr[j][l];
      gb[i * 2 * W + W + l] = gbi[j][l];
    }
  }
}

// Channels [h0, h1) of s4d_backward's adjoint recurrence: gu, gd and the per-(h, n) lane sums
// gc, gl, gb, which only these channels write (channel ranges run side by side).
template <typename T>
SSMSIM_MULTIVERSION void backward_channels(const S4DCoeffs<T>& k, const Seq<T>& u, const S4DStates<T>& states,
                                           const Seq<T>& gy, Seq<T>& gu, T* gc, T* gl, T* gb, T* gd, size_t h0,
                                           size_t h1) {
  const size_t L = u.L, N2 = k.N2;
  constexpr size_t W = kLanes, MB = 2;
  std::vector<T> buf(states.codes || states.codes16 ? MB * L * 2 * W : 0);  // MB modes' dequantized record
  for (size_t h = h0; h < h1; ++h) {
    for (size_t t = 0; t < L; ++t) {
      const T* g = gy.at(t, h);
      const T* uu = u.at(t, h);
      T* gx = gu.at(t, h);
      for (size_t l = 0; l < W; ++l) {
        gx[l] = k.D[h] * g[l];
        gd[h * W + l] += g[l] * uu[l];
      }
    }
    size_t n = 0;
    for (; n + MB <= N2; n += MB) backward_modes<T, MB>(k, u, states, gy, gu, gc, gl, gb, h, n, buf.data());
    for (; n < N2; ++n) backward_modes<T, 1>(k, u, states, gy, gu, gc, gl, gb, h, n, buf.data());
  }
}

template <typename T>
void s4d_backward(const S4DOffsets& o, const T* p, Discretization disc, const S4DCoeffs<T>& k, const Seq<T>& u,
                  const S4DStates<T>& states, const Seq<T>& gy, Seq<T>& gu, T* grad, CoeffGrad* cg, size_t threads) {
  const size_t L = u.L, H = k.H, N2 = k.N2, M = H * N2;
  constexpr size_t W = kLanes;
  gu.resize(L, H);
  // per (h, n) lane sums of gC, gLambda_bar, gB_bar; gD per h
  std::vector<T> gc(M * 2 * W, T(0)), gl(M * 2 * W, T(0)), gb(M * 2 * W, T(0)), gd(H * W, T(0));
  parallel_ranges(H, threads, [&](size_t, size_t h0, size_t h1) {
    backward_channels(k, u, states, gy, gu, gc.data(), gl.data(), gb.data(), gd.data(), h0, h1);
  });
  // lanes in a fixed order, then the chain through the discretization (in double)
  auto lane_sum = [&](const T* v) {
    double s = 0;
    for (size_t l = 0; l < W; ++l) s += static_cast<double>(v[l]);
    return s;
  };
  for (size_t h = 0; h < H; ++h) {
    grad[o.D + h] += static_cast<T>(lane_sum(&gd[h * W]));
    double g_dt = 0;
    for (size_t n = 0; n < N2; ++n) {
      const size_t i = h * N2 + n;
      grad[o.C + 2 * i] += static_cast<T>(lane_sum(&gc[i * 2 * W]));
      grad[o.C + 2 * i + 1] += static_cast<T>(lane_sum(&gc[i * 2 * W + W]));
      const cd G_L(lane_sum(&gl[i * 2 * W]), lane_sum(&gl[i * 2 * W + W]));
      const cd G_B(lane_sum(&gb[i * 2 * W]), lane_sum(&gb[i * 2 * W + W]));
      if (cg) {
        cg->lambda_bar[i] += G_L;
        cg->b_bar[i] += G_B;
      }
      const Discrete d = discrete_at(o, p, disc, h, n);
      const cd A = d.A;
      double g_dt_n = 0;
      const cd G_A = discretize_diagonal_backward(A, d.dt.real(), disc, G_L, G_B, &g_dt_n);
      g_dt += g_dt_n;
      // A = -exp(log_A_real) + i A_imag
      grad[o.log_A_real + i] += static_cast<T>(G_A.real() * A.real());
      grad[o.A_imag + i] += static_cast<T>(G_A.imag());
    }
    grad[o.log_dt + h] += static_cast<T>(g_dt * std::exp(static_cast<double>(p[o.log_dt + h])));
  }
}

std::vector<double> s4d_kernel(const S4DCoeffs<double>& k, size_t L) {
  std::vector<double> K(k.H * L, 0.0);
  for (size_t h = 0; h < k.H; ++h)
    for (size_t n = 0; n < k.N2; ++n) {
      const size_t i = h * k.N2 + n;
      const cd Lb(k.Lr[i], k.Li[i]);
      cd w = cd(k.Cr[i], k.Ci[i]) * cd(k.Br[i], k.Bi[i]);
      for (size_t l = 0; l < L; ++l) {
        K[h * L + l] += 2.0 * w.real();
        w *= Lb;
      }
    }
  return K;
}

S4DSpectrum s4d_spectrum(const S4DCoeffs<double>& k, size_t L) {
  S4DSpectrum s;
  s.L = L;
  s.nfft = 1;
  while (s.nfft < 2 * L) s.nfft *= 2;
  const size_t bins = s.nfft / 2 + 1;
  const std::vector<double> K = s4d_kernel(k, L);
  Eigen::FFT<double> fft;
  fft.SetFlag(Eigen::FFT<double>::HalfSpectrum);
  std::vector<double> padded(s.nfft);
  std::vector<cd> spec;
  s.K.resize(k.H * bins);
  for (size_t h = 0; h < k.H; ++h) {
    std::fill(padded.begin(), padded.end(), 0.0);
    std::copy(K.begin() + static_cast<long>(h * L), K.begin() + static_cast<long>((h + 1) * L), padded.begin());
    fft.fwd(spec, padded);
    std::copy(spec.begin(), spec.begin() + static_cast<long>(bins), s.K.begin() + static_cast<long>(h * bins));
  }
  return s;
}

template <typename T>
void s4d_conv_forward(const S4DCoeffs<T>& k, const S4DSpectrum& sp, const Seq<T>& u, Seq<T>& y) {
  const size_t L = u.L, H = k.H, bins = sp.nfft / 2 + 1;
  if (L != sp.L) throw std::logic_error("s4d_conv_forward: the spectrum was prepared for another length");
  y.resize(L, H);
  Eigen::FFT<double> fft;
  fft.SetFlag(Eigen::FFT<double>::HalfSpectrum);
  std::vector<double> in(sp.nfft), out;
  std::vector<cd> spec;
  for (size_t h = 0; h < H; ++h)
    for (size_t lane = 0; lane < kLanes; ++lane) {
      std::fill(in.begin(), in.end(), 0.0);
      for (size_t t = 0; t < L; ++t) in[t] = static_cast<double>(u.at(t, h)[lane]);
      fft.fwd(spec, in);
      for (size_t b = 0; b < bins; ++b) spec[b] *= sp.K[h * bins + b];
      fft.inv(out, spec, sp.nfft);
      for (size_t t = 0; t < L; ++t)
        y.at(t, h)[lane] = static_cast<T>(out[t] + static_cast<double>(k.D[h]) * in[t]);
    }
}

template void s4d_conv_forward<float>(const S4DCoeffs<float>&, const S4DSpectrum&, const Seq<float>&, Seq<float>&);
template void s4d_conv_forward<double>(const S4DCoeffs<double>&, const S4DSpectrum&, const Seq<double>&,
                                       Seq<double>&);
template void s4d_discretize<float>(const S4DOffsets&, const float*, Discretization, S4DCoeffs<float>&);
template void s4d_discretize<double>(const S4DOffsets&, const double*, Discretization, S4DCoeffs<double>&);
template void s4d_forward<float>(const S4DCoeffs<float>&, const Seq<float>&, Seq<float>&, std::vector<float>&);
template void s4d_forward<double>(const S4DCoeffs<double>&, const Seq<double>&, Seq<double>&, std::vector<double>&);
template void s4d_backward<float>(const S4DOffsets&, const float*, Discretization, const S4DCoeffs<float>&,
                                  const Seq<float>&, const S4DStates<float>&, const Seq<float>&, Seq<float>&, float*,
                                  CoeffGrad*, size_t);
template void s4d_backward<double>(const S4DOffsets&, const double*, Discretization, const S4DCoeffs<double>&,
                                   const Seq<double>&, const S4DStates<double>&, const Seq<double>&, Seq<double>&,
                                   double*, CoeffGrad*, size_t);

}  // namespace ssmsim::core
