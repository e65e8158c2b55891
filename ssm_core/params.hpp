// Model parameters in one flat buffer, with names and shapes as the reference implementations
// spell them (state-spaces S4D, lindermanlab S5), so checkpoints load directly.
//
// A flat buffer makes the optimiser, gradient clipping and the per-chunk gradient sums one loop
// each; layers hold offsets into it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ssmsim::core {

// Optimiser group: SSM parameters (step, state matrix) get their own learning rate and weight
// decay, as in both papers' training recipes. Buffer: state that is not trained by gradient (the
// BatchNorm running statistics); the optimiser leaves it alone.
enum class ParamGroup { Regular, Ssm, NoDecay, Buffer };

struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0;
  size_t size = 0;
  ParamGroup group = ParamGroup::Regular;
};

class ParamLayout {
 public:
  // Registers a parameter; returns its offset in the flat buffer.
  size_t add(const std::string& name, std::vector<int64_t> shape, ParamGroup group);
  size_t total() const { return total_; }
  const std::vector<ParamInfo>& params() const { return params_; }
  const ParamInfo& find(const std::string& name) const;  // throws InputError

 private:
  std::vector<ParamInfo> params_;
  size_t total_ = 0;
};

}  // namespace ssmsim::core
