// A model without normalisation (norm: none, the S4D paper's model) on the whole accelerator: no
// norm parameters in the weight memory, u rescaled from the layer input, the layer's output the
// residual sum, and the logits of every sequence the C-model's, in both timing modes.
#include <gtest/gtest.h>

#include "tests/component/hw_fixture.hpp"

using namespace ssmsim;
using namespace ssmsim::testing::hwfix;

namespace {

// Two layers (so the second reads the first's residual sum), S4D or S5.
core::ModelConfig no_norm_model(bool s5) {
  core::ModelConfig c = s5 ? s5_config() : s4d_config();
  c.norm = core::Norm::None;
  c.n_layers = 2;
  return c;
}

}  // namespace

class NoNormAccelerator : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(NoNormAccelerator, HoldsNoNormParametersAndGivesTheCModelsLogits) {
  const auto [s5, clocked] = GetParam();
  const core::QModel q = quantized(no_norm_model(s5), "w8a8_state8");
  for (const auto& [name, t] : q.tensors) EXPECT_EQ(name.find("norm"), std::string::npos) << name;
  EXPECT_EQ(q.points.count("layers.0.out"), 0u);  // the layer's output is its residual sum
  const core::QEngine e(q);
  hw::Accelerator acc("acc", tiny_hw(clocked), e, hw::EnergyTable::builtin(), pulse_data().test.length);
  for (const auto& entry : acc.weight_map()) EXPECT_EQ(entry.tensor.find("norm"), std::string::npos) << entry.tensor;
  MiniHost host("host", acc, e, 3);
  sc_core::sc_start();
  ASSERT_EQ(host.logits.size(), 3u);
  auto ws = e.make_workspace();
  for (size_t i = 0; i < 3; ++i) {
    quant::SaturationCounters sat;
    EXPECT_EQ(host.logits[i], e.run_chunk(core::make_chunk(pulse_data().test, &i, 1), *ws, sat).logits) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Layers, NoNormAccelerator, ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "S5" : "S4d") +
                                  (std::get<1>(info.param) ? "_cycle" : "_lt");
                         });
