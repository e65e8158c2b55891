// Discretization of one diagonal mode, shared by S4D and S5: for a continuous eigenvalue A and a
// step dt,
//   ZOH:       Lambda_bar = exp(dt A),                     beta = (Lambda_bar - 1) / A
//   bilinear:  Lambda_bar = (1 + dt A/2) / (1 - dt A/2),   beta = dt / (1 - dt A/2)
// and B_bar = beta B. The backward maps G_Lambda_bar, G_beta (G = dL/dRe + i dL/dIm) to G_A and
// dL/ddt, with G_z = conj(f'(z)) G_w for holomorphic w = f(z). Evaluated in double.
#pragma once

#include <complex>
#include <vector>

namespace ssmsim::core {

enum class Discretization { Zoh, Bilinear };

// Gradients with respect to a layer's discretized coefficients, before the chain to its
// parameters (G = dL/dRe + i dL/dIm): Lambda_bar per state; B_bar per state (S4D, where
// B_bar = beta) or per state and input channel (S5, [P2][H]). The backward passes ADD into them.
// QAT's "discrete" and "polar" parameterisations learn from these.
struct CoeffGrad {
  std::vector<std::complex<double>> lambda_bar, b_bar;
};

struct DiagonalDiscrete {
  std::complex<double> Lambda_bar, beta;
};

inline DiagonalDiscrete discretize_diagonal(std::complex<double> A, double dt, Discretization d) {
  if (d == Discretization::Zoh) {
    const std::complex<double> Lb = std::exp(dt * A);
    return {Lb, (Lb - 1.0) / A};
  }
  const std::complex<double> q = 1.0 - dt * A / 2.0;
  return {(1.0 + dt * A / 2.0) / q, dt / q};
}

// Returns G_A and writes dL/ddt to *g_dt.
inline std::complex<double> discretize_diagonal_backward(std::complex<double> A, double dt, Discretization d,
                                                         std::complex<double> G_L, std::complex<double> G_beta,
                                                         double* g_dt) {
  using cd = std::complex<double>;
  cd dL_dA, dbeta_dA, dL_ddt, dbeta_ddt;
  if (d == Discretization::Zoh) {
    const DiagonalDiscrete k = discretize_diagonal(A, dt, d);
    dL_dA = dt * k.Lambda_bar;
    dbeta_dA = dt * k.Lambda_bar / A - k.beta / A;
    dL_ddt = A * k.Lambda_bar;
    dbeta_ddt = k.Lambda_bar;
  } else {
    const cd q = 1.0 - dt * A / 2.0;
    dL_dA = dt / (q * q);
    dbeta_dA = dt * dt / (2.0 * q * q);
    dL_ddt = A / (q * q);
    dbeta_ddt = 1.0 / (q * q);
  }
  *g_dt = (std::conj(dL_ddt) * G_L + std::conj(dbeta_ddt) * G_beta).real();
  return std::conj(dL_dA) * G_L + std::conj(dbeta_dA) * G_beta;
}

}  // namespace ssmsim::core
