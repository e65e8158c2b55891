// The special-function unit: `sfu_width` elements per cycle, `sfu_pipeline` stages. It applies the
// quantized model's elementwise functions through ssm_core/qsteps.hpp: the input rescale of a
// post-norm layer, GELU (lookup table or the hard form), the sigmoid gate and the gated product,
// the residual sum, normalisation (BatchNorm folded: one pass; LayerNorm: a pass for the sum and
// sum of squares, the integer square root in `sfu_isqrt_cycles`, a pass for the outputs) and the
// mean pooling (an exact running sum per feature, one narrowing at the end).
#pragma once

#include <systemc>

#include <vector>

#include "hw_models/energy.hpp"
#include "hw_models/hw_config.hpp"
#include "hw_models/layer_mem.hpp"
#include "hw_models/unit.hpp"
#include "quant/intops.hpp"
#include "ssm_core/qsteps.hpp"

namespace ssmsim::hw {

class SpecialFunctionUnit : public PipelinedUnit {
 public:
  SpecialFunctionUnit(sc_core::sc_module_name name, const HwConfig& config, BankedSram& weights,
                      const sc_core::sc_clock* clk);

  uint64_t u_in(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* in, int32_t* u);
  uint64_t norm(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* in, int32_t* out, int in_width);
  uint64_t gelu(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* y, int32_t* act);
  // gate = sigmoid(mixg); g = narrow(other * gate)
  uint64_t gate(const core::QLayerConsts& Ly, const LayerMem& m, size_t H, const int32_t* mixg, const int32_t* other,
                int32_t* g);
  uint64_t residual(const core::QLayerConsts& Ly, size_t H, const int32_t* g, const int32_t* h, int32_t* res);
  uint64_t pool_add(size_t H, const int32_t* h, int64_t* sum);
  uint64_t pool_out(const quant::ScaledSum& pool, size_t H, const int64_t* sum, int32_t* out);

  const ActionCounts& actions() const { return actions_; }

 private:
  uint64_t elementwise(const char* name, size_t n, const std::function<void(size_t)>& f);
  int width_;
  unsigned isqrt_cycles_;
  BankedSram& weights_;
  ActionCounts actions_;
  std::vector<uint64_t> wwords_;
  std::vector<int32_t> gamma_, beta_;
};

}  // namespace ssmsim::hw
