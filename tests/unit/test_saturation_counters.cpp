// Overflow events are counted per named tensor: the contract says saturations are counted per
// tensor, and totals must not depend on how work was split across threads.
#include <gtest/gtest.h>

#include <vector>

#include "quant/requantize.hpp"

namespace q = ssmsim::quant;

TEST(SaturationCounters, CountOneEventPerValueTheOverflowStepChanged) {
  q::SaturationCounters counters;
  const q::Requantizer rq(q::Format::fixed(true, 16, 8), q::Format::fixed(true, 8, 4),
                          q::Rounding::HalfEven, q::Overflow::Saturate);
  // s16.8 -> s8.4: representable range [-8, 7.9375]; -9.0 and 8.0 saturate, 0, 1.5 and 7.0 not
  const std::vector<int64_t> raw = {0, 384, -9 * 256, 8 * 256, 7 * 256};
  for (int64_t v : raw) rq(v, counters.slot("layer0.y"));
  EXPECT_EQ(counters.count("layer0.y"), 2u);
  rq(int64_t{10} * 256, counters.slot("layer0.y"));
  EXPECT_EQ(counters.count("layer0.y"), 3u);
  EXPECT_EQ(counters.count("layer0.x"), 0u);
}

TEST(SaturationCounters, KeepOneCountPerTensorName) {
  q::SaturationCounters counters;
  const q::Requantizer wrap(q::Format::fixed(true, 8, 0), q::Format::fixed(true, 4, 0),
                            q::Rounding::Floor, q::Overflow::Wrap);
  uint64_t* x = counters.slot("layer0.x");
  uint64_t* y = counters.slot("layer0.y");
  EXPECT_EQ(wrap(9, x), -7);  // wrap events are counted like saturations
  EXPECT_EQ(wrap(3, x), 3);
  EXPECT_EQ(wrap(-9, y), 7);
  EXPECT_EQ(wrap(-20, y), -4);
  // slot pointers stay valid while other names are added
  for (int i = 0; i < 100; ++i) counters.slot("t" + std::to_string(i));
  EXPECT_EQ(wrap(100, x), 4);
  EXPECT_EQ(counters.count("layer0.x"), 2u);
  EXPECT_EQ(counters.count("layer0.y"), 2u);
  EXPECT_EQ(counters.total(), 4u);
}

TEST(SaturationCounters, MergeToTheSameTotalsWhateverTheSplit) {
  const q::Requantizer rq(q::Format::fixed(true, 12, 0), q::Format::fixed(true, 6, 0),
                          q::Rounding::HalfEven, q::Overflow::SaturateSymmetric);
  std::vector<int64_t> values;
  for (int64_t v = -2048; v < 2048; v += 7) values.push_back(v);

  q::SaturationCounters whole;
  for (int64_t v : values) rq(v, whole.slot(v % 2 ? "odd" : "even"));

  for (size_t parts : {2u, 3u, 7u}) {
    std::vector<q::SaturationCounters> shards(parts);
    for (size_t i = 0; i < values.size(); ++i)
      rq(values[i], shards[i * parts / values.size()].slot(values[i] % 2 ? "odd" : "even"));
    q::SaturationCounters merged;
    for (const auto& s : shards) merged.merge(s);
    EXPECT_EQ(merged.all(), whole.all()) << parts << " parts";
  }
  // -32 (the signed minimum) is itself clamped under symmetric saturation
  EXPECT_GT(whole.total(), 0u);
}
