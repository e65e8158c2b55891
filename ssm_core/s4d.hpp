// The S4D layer (Gu et al. 2022, "On the Parameterization and Initialization of Diagonal State
// Space Models"), with the parameter names of the state-spaces reference (models/s4/s4d.py):
//   kernel.log_dt [H], kernel.log_A_real [H, N/2], kernel.A_imag [H, N/2], kernel.C [H, N/2, 2]
//   (real view of a complex tensor), D [H]. B is fixed to ones, as in the reference.
//
// Per channel h and complex mode n, with A = -exp(log_A_real) + i A_imag and dt = exp(log_dt):
//   ZOH:       Lambda_bar = exp(dt A),                     B_bar = (Lambda_bar - 1) / A
//   bilinear:  Lambda_bar = (1 + dt A/2) / (1 - dt A/2),   B_bar = dt / (1 - dt A/2)
//   x_t = Lambda_bar x_{t-1} + B_bar u_t,   y_t = 2 Re(sum_n C_n x_t,n) + D u_t,   x_{-1} = 0
// which is exactly the reference's convolution with K_l = 2 Re(sum_n C_n B_bar_n Lambda_bar_n^l).
//
// Gradients of complex quantities are G = dL/dRe + i dL/dIm; for w = f(z) holomorphic,
// G_z = conj(f'(z)) G_w (docs/models.md derives each step).
#pragma once

#include <complex>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ssm_core/discretize.hpp"
#include "ssm_core/params.hpp"
#include "ssm_core/seq.hpp"

namespace ssmsim::core {

enum class S4DInit { Lin, Inv };

struct S4DOffsets {
  size_t H = 0, N2 = 0;  // channels, complex modes per channel (N / 2)
  size_t log_dt = 0, log_A_real = 0, A_imag = 0, C = 0, D = 0;
};

// Registers the layer's parameters as `prefix`kernel.log_dt, ... `prefix`D.
S4DOffsets s4d_register(ParamLayout& layout, const std::string& prefix, size_t H, size_t N2);

// Initialisation (reference formulas): log_dt ~ U[log dt_min, log dt_max]; S4D-Lin
// A = -1/2 + i pi n; S4D-Inv A = -1/2 + i (N/pi)(N/(2n+1) - 1); C ~ complex normal (real and
// imaginary parts N(0, 1/2)); D ~ N(0, 1).
void s4d_init(const S4DOffsets& o, S4DInit init, double dt_min, double dt_max, std::mt19937_64& rng,
              double* params);

// The discretized coefficients of one layer, computed in double from the parameters.
template <typename T>
struct S4DCoeffs {
  size_t H = 0, N2 = 0;
  std::vector<T> Lr, Li, Br, Bi, Cr, Ci, D;  // [H * N2] (D: [H])
};

template <typename T>
void s4d_discretize(const S4DOffsets& o, const T* params, Discretization disc, S4DCoeffs<T>& out);

// Recurrent forward over a chunk: u, y are [L, H]; states receives x_t for every step
// ([H][N2][L][re, im][lanes]: one mode's history is contiguous) for the backward pass.
template <typename T>
void s4d_forward(const S4DCoeffs<T>& k, const Seq<T>& u, Seq<T>& y, std::vector<T>& states);

// The states x_t the backward pass reads, in s4d_forward's layout: floats, or a fixed-point
// record read in place (QAT's integer forward: int32 codes, or int16 codes16, with one scale),
// dequantized one mode at a time as static_cast<T>(double(code) * scale).
template <typename T>
struct S4DStates {
  const T* values = nullptr;
  const int32_t* codes = nullptr;
  const int16_t* codes16 = nullptr;
  double scale = 0;
};

// The adjoint recurrence: writes gu, and adds the parameter gradients (through the
// discretization) into grad (the flat gradient buffer). Its channels run on up to `threads`
// threads (each writes only its own channels' sums: the same bits for any count).
template <typename T>
void s4d_backward(const S4DOffsets& o, const T* params, Discretization disc, const S4DCoeffs<T>& k, const Seq<T>& u,
                  const S4DStates<T>& states, const Seq<T>& gy, Seq<T>& gu, T* grad, CoeffGrad* coeff_grad = nullptr,
                  size_t threads = 1);

// The convolution kernel K [H, L] of the reference, in double; y = K * u + D u equals the
// recurrent mode (tested).
std::vector<double> s4d_kernel(const S4DCoeffs<double>& k, size_t L);

// The convolution mode, a float inference path (no backward, no quantized state): the kernel's
// spectrum, prepared once per parameter set and sequence length L ...
struct S4DSpectrum {
  size_t L = 0, nfft = 0;                   // nfft: the power of two >= 2L (linear, not circular)
  std::vector<std::complex<double>> K;      // [H][nfft/2 + 1]
};
S4DSpectrum s4d_spectrum(const S4DCoeffs<double>& k, size_t L);
// ... then y = irfft(rfft(u) rfft(K))[:L] + D u per channel and lane (Eigen's FFT, in double).
template <typename T>
void s4d_conv_forward(const S4DCoeffs<T>& k, const S4DSpectrum& spectrum, const Seq<T>& u, Seq<T>& y);

}  // namespace ssmsim::core
