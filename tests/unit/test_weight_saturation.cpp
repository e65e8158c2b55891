// Weight and bias codes that the format's range clips when a tensor is quantized are counted per
// tensor (QTensor::saturated), stored in the quantized model's file only where there are any, and
// read back; the codes themselves are those of plain saturation. Files without the counts (written
// before they existed) load with every count 0 and save back to the same bytes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "quant/errors.hpp"
#include "ssm_core/qmodel.hpp"
#include "ssm_core/safetensors.hpp"
#include "tests/support/qmodel_fixtures.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim::core;
using ssmsim::quant::Component;
using ssmsim::quant::Format;
using ssmsim::quant::PrecisionConfig;
using ssmsim::quant::QuantizerSpec;
using ssmsim::quant::QuantParams;

namespace {

// Every component at `bits` (bias at `bias_bits`), symmetric, maxabs.
PrecisionConfig bits_everywhere(int bits, int bias_bits) {
  PrecisionConfig p;
  QuantizerSpec s;
  s.bits = bits;
  for (auto c : ssmsim::quant::all_components()) {
    auto sc = s;
    if (c == Component::bias) sc.bits = bias_bits;
    p.set_quantized(c, sc);
  }
  p.set_name("sat_test");
  return p;
}


using ssmsim::testing::random_set;
using ssmsim::testing::embedded_checkpoint;


}  // namespace

TEST(WeightSaturation, AWeightTensorCountsExactlyTheCodesItsFixedFormatClips) {
  // D at 4 bits with a fixed binary point at 0: the codes -8..7 hold -8.5..7.5; 8, -9 and 100 clip
  PrecisionConfig p = bits_everywhere(8, 32);
  QuantizerSpec d;
  d.bits = 4;
  d.frac = 0;
  p.set_quantized(Component::D, d);
  const QTensor t = quantize_tensor({0.4, 3, 7, 8, -8, -9, 100, -0.6}, {8}, Component::D, p);
  EXPECT_EQ(t.q, (std::vector<int32_t>{0, 3, 7, 7, -8, -8, 7, -1}));
  EXPECT_EQ(t.saturated, 3u);
  // maxabs fits the range to the data: nothing clips
  p.set_quantized(Component::D, QuantizerSpec{});
  EXPECT_EQ(quantize_tensor({0.4, 3, 7, 8, -8, -9, 100, -0.6}, {8}, Component::D, p).saturated, 0u);
}

TEST(WeightSaturation, ABiasAtAccumulatorScaleCountsExactlyTheCodesItsWidthClips) {
  // weight unit 1, input unit 1/2: the accumulator's unit is 1/2; a 4-bit bias holds -8..7
  const PrecisionConfig p = bits_everywhere(8, 4);
  QTensor w;
  w.component = Component::mixing;
  w.shape = {7, 1};
  w.q.assign(7, 1);
  w.params = {QuantParams{Format::fixed(true, 8, 0)}};
  const QuantParams in{Format::fixed(true, 8, 1)};
  const QTensor b = quantize_bias({1.0, 3.5, 4.0, -4.0, -4.5, 10.0, -0.25}, w, in, p);
  // codes before saturation: 2, 7, 8, -8, -9, 20, -0 (half to even)
  EXPECT_EQ(b.q, (std::vector<int32_t>{2, 7, 7, -8, -8, 7, 0}));
  EXPECT_EQ(b.saturated, 3u);
  EXPECT_EQ(quantize_bias({1.0, 3.5, -4.0}, w, in, p).saturated, 0u);
}

TEST(WeightSaturation, TheWarningNamesTheTensorItsCountAndTheBitsToChange) {
  const PrecisionConfig p = bits_everywhere(8, 8);
  QTensor t;
  t.component = Component::bias;
  t.q.assign(16, 0);
  EXPECT_EQ(saturation_warning("encoder.bias", t, p), "");
  t.saturated = 15;
  const std::string w = saturation_warning("encoder.bias", t, p);
  EXPECT_NE(w.find("15 of 16 codes of 'encoder.bias'"), std::string::npos) << w;
  EXPECT_NE(w.find("precision.components.bias.bits"), std::string::npos) << w;
}

TEST(WeightSaturation, CountsTravelThroughTheFileOnlyWhereThereAreAnyAndQuantizeWeightsKeepsThem) {
  const FloatCheckpoint ck = embedded_checkpoint();
  auto rng = ssmsim::testing::seeded_rng("weight_saturation");
  const SequenceSet set = random_set(16, 60, rng);
  PtqOptions opt;
  opt.calib = 16;
  const QModel q = quantize_ptq(ck, PrecisionConfig::load(ssmsim::testing::source_dir() /
                                                          "configs/precision/all8_static.yaml"),
                                set, opt);
  uint64_t total = 0;
  for (const auto& [name, t] : q.tensors) total += t.saturated;
  ASSERT_GT(total, 0u);  // 8-bit biases at accumulator scale clip
  // QAT's path: the same weights quantized again give the same counts
  const QModel again = quantize_weights(ck.config, ck.params, q.precision, q.points, q.gelu);
  for (const auto& [name, t] : q.tensors) EXPECT_EQ(again.tensor(name).saturated, t.saturated) << name;

  const auto dir = ssmsim::testing::scratch_dir("weight_saturation");
  save_qmodel(dir / "q.safetensors", q);
  const SafeTensors st = read_safetensors(dir / "q.safetensors");
  for (const auto& [name, t] : q.tensors) {
    const auto it = st.metadata.find("saturated." + name);
    if (t.saturated == 0) {
      EXPECT_EQ(it, st.metadata.end()) << name;
    } else {
      ASSERT_NE(it, st.metadata.end()) << name;
      EXPECT_EQ(it->second, std::to_string(t.saturated)) << name;
    }
  }
  const QModel back = load_qmodel(dir / "q.safetensors");
  for (const auto& [name, t] : q.tensors) EXPECT_EQ(back.tensor(name).saturated, t.saturated) << name;
  EXPECT_EQ(back.metadata, q.metadata);  // the counts are not provenance entries

  // the same file without the counts (as written before they existed): same codes, counts 0
  SafeTensors old = st;
  for (auto it = old.metadata.begin(); it != old.metadata.end();)
    it = it->first.rfind("saturated.", 0) == 0 ? old.metadata.erase(it) : std::next(it);
  write_safetensors(dir / "old.safetensors", old);
  const QModel o = load_qmodel(dir / "old.safetensors");
  for (const auto& [name, t] : q.tensors) {
    EXPECT_EQ(o.tensor(name).q, t.q) << name;
    EXPECT_EQ(o.tensor(name).saturated, 0u) << name;
  }

  // a count for a tensor the model lacks, or one that is not a count, is refused
  SafeTensors bad = st;
  bad.metadata["saturated.nowhere"] = "1";
  write_safetensors(dir / "bad.safetensors", bad);
  EXPECT_THROW(load_qmodel(dir / "bad.safetensors"), ssmsim::InputError);
  bad = st;
  bad.metadata["saturated.encoder.bias"] = "-3";
  write_safetensors(dir / "bad.safetensors", bad);
  EXPECT_THROW(load_qmodel(dir / "bad.safetensors"), ssmsim::InputError);
}

TEST(WeightSaturation, ACommittedQuantizedModelWithoutCountsLoadsWithNoneAndSavesToTheSameBytes) {
  const auto file = ssmsim::testing::source_dir() / "workloads/models/s4d_edge_smnist_hetero6x_qat.safetensors";
  const QModel q = load_qmodel(file);
  for (const auto& [name, t] : q.tensors) EXPECT_EQ(t.saturated, 0u) << name;
  const auto dir = ssmsim::testing::scratch_dir("weight_saturation_old");
  save_qmodel(dir / "q.safetensors", q);
  EXPECT_EQ(ssmsim::testing::read_text(dir / "q.safetensors"), ssmsim::testing::read_text(file));
}
