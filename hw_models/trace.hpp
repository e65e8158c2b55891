// What the accelerator's units see, for test-vector export (sim/vectors.cpp, docs/vectors.md).
// The controller reports its position (layer, step) and the vectors it passes between units; the
// CMAC array reports each state update's operands and result. Nothing is traced unless a tracer
// is set (Controller::set_tracer).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/intops.hpp"

namespace ssmsim::hw {

class Tracer {
 public:
  virtual ~Tracer() = default;
  // The step about to run (layer == SIZE_MAX: outside the layers: input, encoder, decoder).
  virtual void at(size_t layer, size_t t) = 0;
  // A vector one unit hands to the next: "input", "encoder_out", "u", "y", "act", "mixg", "g",
  // "res", "out" (32-bit codes) or "cx", "logits" (exact 64-bit values).
  virtual void vector(const char* name, const int32_t* v, size_t n) = 0;
  virtual void vector64(const char* name, const int64_t* v, size_t n) = 0;
  // One CMAC state update: A (the operand, minus its zero point), the state operand before (the
  // stored state, or the narrowed operand) and its parts' exponents er, ei (the left shift of the
  // products of that part: 0 unless block floating point), the exact B u, the stored state after.
  virtual void state_update(size_t state, int64_t ar, int64_t ai, int64_t xr, int64_t xi, int er, int ei,
                            quant::wide_t bu_re, quant::wide_t bu_im, int64_t xr_out, int64_t xi_out) = 0;
  // The operand stage (a layer that narrows its state operand), after a step's updates: each
  // block's exponents in block order, of its real parts and of its imaginary parts (block floating
  // point only), then each state's new operand.
  virtual void block_exponent(int er, int ei) = 0;
  virtual void state_operand(size_t state, int64_t or_, int64_t oi) = 0;
};

}  // namespace ssmsim::hw
