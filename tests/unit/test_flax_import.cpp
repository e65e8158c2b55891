// A lindermanlab S5 model exported from JAX/flax with the snippet of docs/safetensors.md
// (flatten_dict of params and batch_stats, Dense kernels [in, out]) loads as the same model.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

#include "quant/errors.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/safetensors.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim::core;

namespace {

ModelConfig s5_config() {
  ModelConfig c;
  c.layer = LayerType::S5;
  c.d_input = 3;
  c.d_output = 5;
  c.H = 4;
  c.P = 8;
  c.n_layers = 2;
  c.prenorm = true;
  c.norm = Norm::Batch;
  c.mixing = Mixing::Glu;  // out1 and out2
  return c;
}

// The flax name of each ssmsim parameter, and whether it is a Dense kernel (stored [in, out]).
std::pair<std::string, bool> flax_name(const std::string& n) {
  static const std::map<std::string, std::pair<std::string, bool>> fixed = {
      {"encoder.weight", {"params.encoder.encoder.kernel", true}},
      {"encoder.bias", {"params.encoder.encoder.bias", false}},
      {"decoder.weight", {"params.decoder.kernel", true}},
      {"decoder.bias", {"params.decoder.bias", false}}};
  if (fixed.count(n)) return fixed.at(n);
  const std::string layer = n.substr(7, n.find('.', 7) - 7);     // layers.<i>.rest
  std::string rest = n.substr(n.find('.', 7) + 1);
  const std::string base = "encoder.layers_" + layer + ".";
  if (rest == "norm.running_mean") return {"batch_stats." + base + "norm.mean", false};
  if (rest == "norm.running_var") return {"batch_stats." + base + "norm.var", false};
  if (rest == "norm.weight") return {"params." + base + "norm.scale", false};
  if (rest.size() > 7 && rest.compare(rest.size() - 7, 7, ".weight") == 0)
    return {"params." + base + rest.substr(0, rest.size() - 7) + ".kernel", true};
  return {"params." + base + rest, false};
}

}  // namespace

TEST(FlaxImport, AnS5ExportWithFlaxNamesLoadsAsTheSameModel) {
  const ModelConfig config = s5_config();
  const Model model(config);
  auto rng = ssmsim::testing::seeded_rng("flax_import");
  std::vector<double> p64 = model.init(rng());
  std::vector<float> params(p64.begin(), p64.end());
  std::normal_distribution<float> nd(0.f, 1.f);
  for (auto& v : params) v += 0.1f * nd(rng);  // running statistics included

  SafeTensors st;
  size_t kernels = 0;
  for (const auto& info : model.layout().params()) {
    const auto [name, kernel] = flax_name(info.name);
    std::vector<float> v(params.begin() + static_cast<long>(info.offset),
                         params.begin() + static_cast<long>(info.offset + info.size));
    std::vector<int64_t> shape = info.shape;
    if (kernel) {
      const auto rows = static_cast<size_t>(shape[0]), cols = static_cast<size_t>(shape[1]);
      std::vector<float> t(v.size());
      for (size_t r = 0; r < rows; ++r)
        for (size_t c = 0; c < cols; ++c) t[c * rows + r] = v[r * cols + c];
      v = t;
      shape = {shape[1], shape[0]};
      ++kernels;
    }
    st.tensors[name] = Tensor::from<float>(shape, v);
  }
  EXPECT_EQ(kernels, 2u + 2 * 2);  // encoder, decoder, out1 and out2 of both layers
  for (const auto& kv : config.to_yaml()) st.metadata["model." + kv.first.as<std::string>()] = kv.second.as<std::string>();
  const auto file = ssmsim::testing::scratch_dir("flax_import") / "s5_flax.safetensors";
  write_safetensors(file, st);

  const FloatCheckpoint ck = load_checkpoint(file);
  EXPECT_TRUE(ck.params == params);
  EXPECT_EQ(ck.config.norm, Norm::Batch);

  // a name outside the reference's tree is named in the error
  st.tensors["params.encoder.head.kernel"] = Tensor::from<float>({1, 1}, {0.f});
  write_safetensors(file, st);
  try {
    load_checkpoint(file);
    FAIL() << "accepted an unknown flax tensor";
  } catch (const ssmsim::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("params.encoder.head.kernel"), std::string::npos) << e.what();
  }
}
