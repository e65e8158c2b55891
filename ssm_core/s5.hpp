// The S5 layer (Smith, Warrington, Linderman 2023, "Simplified State Space Layers for Sequence
// Modeling"), as the lindermanlab reference implements it (s5/ssm.py, s5/ssm_init.py), with its
// parameter names:
//   Lambda_re [P2], Lambda_im [P2], B [P2, H, 2] (real view of the complex P2 x H B_tilde),
//   C [H, P2, 2] (complex H x P2 C_tilde), D [H], log_step [P2, 1].
// P2 is the number of stored states: P / 2 with conjugate symmetry (the reference's default), else P.
//
// Per state p, with Lambda = Lambda_re + i Lambda_im and step = step_rescale * exp(log_step):
//   ZOH:       Lambda_bar = exp(Lambda step),                 beta = (Lambda_bar - 1) / Lambda
//   bilinear:  Lambda_bar = (1 + step/2 Lambda) / (1 - step/2 Lambda),   beta = step / (1 - step/2 Lambda)
//   B_bar[p, :] = beta_p B_tilde[p, :]
//   x_t = Lambda_bar x_{t-1} + B_bar u_t   (MIMO: u_t real H, x_t complex P2),   x_{-1} = 0
//   y_t = s Re(C_tilde x_t) + D u_t,        s = 2 with conjugate symmetry, else 1
//
// The pass is dense / diagonal / dense: Bu for every step as one real matrix product (B_bar viewed
// as a [2 P2, H] real matrix), the diagonal recurrence per state in place, then C x as one real
// matrix product ([H, 2 P2]). The backward mirrors it (docs/models.md, "The S5 layer").
// Gradients of complex quantities are G = dL/dRe + i dL/dIm; for w = f(z) holomorphic,
// G_z = conj(f'(z)) G_w.
#pragma once

#include <complex>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ssm_core/params.hpp"
#include "ssm_core/s4d.hpp"
#include "ssm_core/seq.hpp"

namespace ssmsim::core {

// C initialisations of the reference (S5SSM.C_init).
//   trunc_standard_normal: per output row, lecun_normal on (1, P, 2): real and imaginary parts
//                          truncated normal with variance 1/P, then C_tilde = C V (the default)
//   lecun_normal:          lecun_normal on (H, P, 2) (fan_in = P H), then C_tilde = C V
//   complex_normal:        C_tilde directly, real and imaginary parts N(0, 1/2)
enum class S5CInit { TruncStandardNormal, LecunNormal, ComplexNormal };

// Fixed (non-trained) options of one S5 layer.
struct S5Options {
  Discretization discretization = Discretization::Zoh;
  bool conj_sym = true;
  double step_rescale = 1.0;
};

struct S5Offsets {
  size_t H = 0, P2 = 0;  // channels, stored states
  size_t Lambda_re = 0, Lambda_im = 0, B = 0, C = 0, D = 0, log_step = 0;
};

// Registers `prefix`Lambda_re, Lambda_im, B, C, D, log_step (the reference's order). Lambda_re,
// Lambda_im, B and log_step are in the SSM optimiser group (the reference's opt_config "standard").
S5Offsets s5_register(ParamLayout& layout, const std::string& prefix, size_t H, size_t P2);

// HiPPO-LegS (make_HiPPO): A[n][k] = -sqrt((2n+1)(2k+1)) for n > k, -(n+1) for n = k, 0 above;
// row-major N x N.
std::vector<double> hippo_legs(size_t N);
// Its normal part (make_DPLR_HiPPO): S = A + p p^T with p_n = sqrt(n + 1/2), i.e. a skew-symmetric
// matrix minus I/2.
std::vector<double> hippo_legs_normal(size_t N);

// The diagonalisation of S (make_DPLR_HiPPO): Lambda = mean(diag S) + i w with w, V the
// eigenvalues (ascending) and eigenvectors of the Hermitian matrix -i S (symmetrised, as jax's
// eigh does, which leaves -i times the skew part). V is unitary, row-major N x N, columns in the
// order of Lambda; S = V diag(Lambda) V^H.
struct DplrHippo {
  std::vector<std::complex<double>> Lambda;  // [N]
  std::vector<std::complex<double>> V;       // [N * N]
};
DplrHippo make_dplr_hippo(size_t N);

// Initialisation as the reference's train.py + S5SSM: P states in J blocks of P/J; each block is
// the diagonalised HiPPO-LegS of size P/J (with conjugate symmetry only its first half: P/(2J)
// eigenvalues, the V columns of those); Lambda_re = -1/2, Lambda_im the eigenvalues' imaginary
// parts; B_tilde = Vinv B with B ~ lecun_normal on (P, H) (truncated normal, variance 1/P: jax
// takes fan_in from axis -2) and Vinv = block_diag(V_half^H); C per c_init; D ~ N(0, 1);
// log_step ~ U[log dt_min, log dt_max] per state. P is the full state size (o.P2 = P/2 with
// conjugate symmetry).
void s5_init(const S5Offsets& o, size_t P, size_t J, bool conj_sym, S5CInit c_init, double dt_min,
             double dt_max, std::mt19937_64& rng, double* params);

// Discretized coefficients of one layer, computed in double from the parameters.
template <typename T>
struct S5Coeffs {
  size_t H = 0, P2 = 0;
  std::vector<T> Lr, Li;  // Lambda_bar [P2]
  std::vector<T> Wb;      // B_bar as a real [2 P2, H] matrix: row 2p = Re B_bar[p, :], 2p + 1 = Im
  std::vector<T> Wc;      // s C_tilde as a real [H, 2 P2] matrix: [h][2p] = s Re C, [h][2p + 1] = -s Im C
  std::vector<T> D;       // [H]
};

template <typename T>
void s5_discretize(const S5Offsets& o, const T* params, const S5Options& opt, S5Coeffs<T>& out);

// Forward over a chunk: u, y are [L, H]; xs receives the states, [L, 2 P2] (feature 2p the real
// part of state p, 2p + 1 the imaginary part), for the backward pass.
template <typename T>
void s5_forward(const S5Coeffs<T>& k, const Seq<T>& u, Seq<T>& y, Seq<T>& xs);

// The backward pass: writes gu, adds the parameter gradients (through the discretization) into
// grad (the flat gradient buffer). gs is scratch ([L, 2 P2], the adjoint states).
template <typename T>
void s5_backward(const S5Offsets& o, const T* params, const S5Options& opt, const S5Coeffs<T>& k,
                 const Seq<T>& u, const Seq<T>& xs, const Seq<T>& gy, Seq<T>& gu, Seq<T>& gs, T* grad,
                 CoeffGrad* coeff_grad = nullptr);

}  // namespace ssmsim::core
