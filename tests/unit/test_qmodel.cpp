// The quantized model: at 16 bits the integer C-model tracks the float model point by point (the
// LayerNorm's output within 1% of its range, every other point closer).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <regex>
#include <sstream>

#include "quant/errors.hpp"
#include "ssm_core/qmodel.hpp"
#include "tests/support/qmodel_fixtures.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim::core;
using ssmsim::quant::PrecisionConfig;
using ssmsim::testing::all_bits;

namespace {

using ssmsim::testing::random_set;
using ssmsim::testing::embedded_checkpoint;


double dq(int32_t q, const ssmsim::quant::QuantParams& p) { return ssmsim::quant::dequantize(q, p); }

// Whether the component table's `covers` column lists a tensor or point name ("layers.<n>." read
// as "layers.i.").
bool covers(ssmsim::quant::Component c, const std::string& name) {
  static const std::regex layer(R"(^layers\.[0-9]+\.)");
  const std::string generic = std::regex_replace(name, layer, "layers.i.");
  std::istringstream in(ssmsim::quant::info(c).covers);
  for (std::string token; in >> token;)
    if (token == generic) return true;
  return false;
}

}  // namespace

TEST(QModel, SixteenBitIntegerModelTracksTheFloatModel) {
  const FloatCheckpoint ck = embedded_checkpoint();
  auto rng = ssmsim::testing::seeded_rng("qmodel16");
  const SequenceSet set = random_set(16, 100, rng);
  PtqOptions opt;
  opt.calib = 16;
  const QModel q = quantize_ptq(ck, all_bits(16), set, opt);
  const QEngine engine(q);
  auto qws = engine.make_workspace();
  ssmsim::quant::SaturationCounters sat;
  Chunk ch;
  ch.L = set.length;
  for (size_t l = 0; l < kLanes; ++l) ch.x[l] = set.input(l);
  const QChunkResult r = engine.run_chunk(ch, *qws, sat);
  const Model model(ck.config);
  Model::Prepared<float> prep;
  model.prepare(ck.params.data(), prep);
  auto ws = make_workspace<float>();
  model.run_chunk(ck.params.data(), prep, ch, 0, static_cast<float*>(nullptr), *ws);
  auto cmp = [&](const char* what, const Seq<float>& f, const Seq<int32_t>& iq, const ssmsim::quant::QuantParams& p) {
    double worst = 0, scale = 0;
    for (size_t i = 0; i < f.v.size(); ++i) {
      worst = std::max(worst, std::abs(f.v[i] - dq(iq.v[i], p)));
      scale = std::max(scale, std::abs(static_cast<double>(f.v[i])));
    }
    EXPECT_GT(scale, 0.1) << what;
    EXPECT_LT(worst, 1e-2 * scale) << what;
  };
  cmp("enc", ws->x0, qws->h0, q.point("encoder.out"));
  cmp("u", ws->x0, qws->u, q.point("layers.0.u"));
  cmp("y", ws->layers[0].y, qws->y, q.point("layers.0.y"));
  cmp("act", ws->layers[0].act, qws->act, q.point("layers.0.act"));
  cmp("g", ws->layers[0].g, qws->g, q.point("layers.0.g"));
  cmp("res", ws->layers[0].r, qws->res, q.point("layers.0.res"));
  cmp("out", ws->layers[0].out, qws->layer_out[0], q.point("layers.0.out"));
}

// The file holds everything the engine needs: a saved and reloaded model gives the same logits,
// and a float checkpoint is refused where a quantized model is needed (and the reverse).
TEST(QModel, RoundTripsThroughTheFileToTheSameLogits) {
  const FloatCheckpoint ck = embedded_checkpoint();
  auto rng = ssmsim::testing::seeded_rng("qmodel_file");
  const SequenceSet set = random_set(16, 60, rng);
  PtqOptions opt;
  opt.calib = 16;
  opt.gelu = QGelu::Hard;
  auto prec = all_bits(8);
  ssmsim::quant::QuantizerSpec wide;
  wide.bits = 16;
  wide.granularity = ssmsim::quant::Granularity::PerChannel;
  prec.set_quantized(ssmsim::quant::Component::decoder, wide);
  prec.validate();
  const QModel q = quantize_ptq(ck, prec, set, opt);
  const auto dir = ssmsim::testing::scratch_dir("qmodel_file");
  save_qmodel(dir / "q.safetensors", q);
  EXPECT_TRUE(is_qmodel_file(dir / "q.safetensors"));
  const QModel back = load_qmodel(dir / "q.safetensors");
  EXPECT_EQ(back.gelu, QGelu::Hard);
  EXPECT_TRUE(back.precision == q.precision);
  ASSERT_EQ(back.tensors.size(), q.tensors.size());
  for (const auto& [name, t] : q.tensors) {
    EXPECT_EQ(back.tensor(name).q, t.q) << name;
    EXPECT_TRUE(back.tensor(name).params == t.params) << name;
  }
  Chunk ch;
  ch.L = set.length;
  for (size_t l = 0; l < 5; ++l) ch.x[l] = set.input(l);
  ssmsim::quant::SaturationCounters s1, s2;
  const QEngine e1(q), e2(back);
  auto w1 = e1.make_workspace(), w2 = e2.make_workspace();
  const auto r1 = e1.run_chunk(ch, *w1, s1), r2 = e2.run_chunk(ch, *w2, s2);
  EXPECT_EQ(r1.logits, r2.logits);
  EXPECT_EQ(r1.logits.size(), 5u * 10);
  EXPECT_EQ(s1.all(), s2.all());

  EXPECT_FALSE(is_qmodel_file(ssmsim::testing::source_dir() / "workloads/models/s4d_edge_smnist.safetensors"));
  EXPECT_THROW(load_qmodel(ssmsim::testing::source_dir() / "workloads/models/s4d_edge_smnist.safetensors"),
               ssmsim::InputError);
  EXPECT_THROW(load_checkpoint(dir / "q.safetensors"), ssmsim::InputError);
}

TEST(QModel, AFloatComponentIsRefusedWithItsName) {
  const FloatCheckpoint ck = embedded_checkpoint();
  auto rng = ssmsim::testing::seeded_rng("qmodel_float_component");
  const SequenceSet set = random_set(8, 20, rng);
  auto prec = all_bits(8);
  prec.set_float(ssmsim::quant::Component::x);
  try {
    quantize_ptq(ck, prec, set, PtqOptions{});
    FAIL() << "accepted a float component";
  } catch (const ssmsim::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'x' is float"), std::string::npos) << e.what();
  }
}

// A fixed binary point that cannot hold the calibrated range, with wrap instead of saturation, is
// refused with the component, the range and the format (never silently wrapped).
TEST(QModel, ABinaryPointThatCannotHoldTheRangeUnderWrapIsRefused) {
  const FloatCheckpoint ck = embedded_checkpoint();
  auto rng = ssmsim::testing::seeded_rng("qmodel_frac_wrap");
  const SequenceSet set = random_set(8, 20, rng);
  auto prec = all_bits(8);
  ssmsim::quant::QuantizerSpec a;
  a.bits = 8;
  a.frac = 10;  // s8.10 holds |v| <= 0.124; Lambda_bar reaches ~1
  a.overflow = ssmsim::quant::Overflow::Wrap;
  prec.set_quantized(ssmsim::quant::Component::A, a);
  prec.validate();
  try {
    quantize_ptq(ck, prec, set, PtqOptions{});
    FAIL() << "accepted a binary point that wraps the data";
  } catch (const ssmsim::InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("component A"), std::string::npos) << what;
    EXPECT_NE(what.find("overflow: saturate"), std::string::npos) << what;
  }
  a.overflow = ssmsim::quant::Overflow::Saturate;  // saturating is the config's explicit choice
  prec.set_quantized(ssmsim::quant::Component::A, a);
  EXPECT_NO_THROW(quantize_ptq(ck, prec, set, PtqOptions{}));
}

// quantize.stable_a: no quantized |Lambda_bar| reaches 1 (checked exactly on the codes), and only
// codes that did are changed.
TEST(QModel, StableAKeepsEveryQuantizedLambdaBarInsideTheUnitCircle) {
  const FloatCheckpoint ck = embedded_checkpoint();
  auto rng = ssmsim::testing::seeded_rng("qmodel_stable_a");
  const SequenceSet set = random_set(8, 20, rng);
  auto prec = all_bits(4);  // coarse: many |Lambda_bar| near 1 round onto or beyond it
  PtqOptions opt;
  const QModel plain = quantize_ptq(ck, prec, set, opt);
  opt.stable_a = true;
  const QModel stable = quantize_ptq(ck, prec, set, opt);
  const QTensor &a0 = plain.tensor("layers.0.A"), &a1 = stable.tensor("layers.0.A");
  auto mag2 = [](const QTensor& t, size_t k) {
    const double s = t.p(0).scale();
    return (t.q[2 * k] * s) * (t.q[2 * k] * s) + (t.q[2 * k + 1] * s) * (t.q[2 * k + 1] * s);
  };
  size_t was_unstable = 0;
  for (size_t k = 0; k < a1.size() / 2; ++k) {
    EXPECT_LT(mag2(a1, k), 1.0) << "state " << k;
    if (mag2(a0, k) >= 1.0) ++was_unstable;
    else EXPECT_TRUE(a0.q[2 * k] == a1.q[2 * k] && a0.q[2 * k + 1] == a1.q[2 * k + 1]) << "state " << k;
  }
  EXPECT_GT(was_unstable, 0u);  // the case the option exists for did occur
  EXPECT_EQ(stable.metadata.at("quantize.stable_a"), "true");
}

// quantize.integer_states: each state format comes from the integer model's own states (run with a
// wide state), so the calibration sequences saturate the state far less often (not never: at the
// final width the rounding of the state itself moves the dynamics a little).
TEST(QModel, IntegerStatesCalibrateTheStateOnTheIntegerModelsOwnStates) {
  const FloatCheckpoint ck = embedded_checkpoint();
  auto rng = ssmsim::testing::seeded_rng("qmodel_integer_states");
  const SequenceSet set = random_set(16, 60, rng);
  const auto prec = all_bits(6);  // coarse A and B: the integer states outgrow the float range
  PtqOptions opt;
  opt.calib = 16;
  auto x_events = [&](const QModel& q) {
    const QEngine e(q);
    auto ws = e.make_workspace();
    ssmsim::quant::SaturationCounters sat;
    for (size_t b = 0; b < 16; b += kLanes) {
      Chunk ch;
      ch.L = set.length;
      for (size_t l = 0; l < kLanes; ++l) ch.x[l] = set.input(b + l);
      e.run_chunk(ch, *ws, sat);
    }
    return sat.count("layers.0.x");
  };
  const QModel plain = quantize_ptq(ck, prec, set, opt);
  opt.integer_states = true;
  const QModel own = quantize_ptq(ck, prec, set, opt);
  const uint64_t before = x_events(plain), after = x_events(own);
  EXPECT_GT(before, 0u) << "the float states' range does not hold the integer ones";
  EXPECT_LT(4 * after, before) << before << " -> " << after;  // here 16 -> 3
  EXPECT_EQ(own.metadata.at("quantize.integer_states"), "true");
}

TEST(QModel, EveryPointRowIsCoveredByItsComponentsTableRow) {
  for (const PointInfo& row : kPoints) {
    EXPECT_EQ(&point_info(row.id), &row) << row.name;
    EXPECT_TRUE(covers(row.component, point_name(row.id, 3)))
        << point_name(row.id, 3) << " is not in the covers of " << ssmsim::quant::component_name(row.component);
  }
  EXPECT_EQ(point_name(PointId::encoder_out), "encoder.out");
  EXPECT_EQ(point_name(PointId::mixg, 2), "layers.2.mixg");
}

// Every tensor and point of a quantized model is in its component's covers: with the state stored
// as its operand, with a static operand (the point xo exists, one per layer) and with a block
// floating-point operand (no xo).
TEST(QModel, EveryTensorAndPointOfAQuantizedModelIsCoveredByItsComponent) {
  const FloatCheckpoint ck = embedded_checkpoint();
  auto rng = ssmsim::testing::seeded_rng("qmodel-covers");
  const SequenceSet set = random_set(8, 50, rng);
  PtqOptions opt;
  opt.calib = 8;
  for (const int block : {-1, 0, 4}) {  // -1: no operand_bits
    auto prec = all_bits(8);
    ssmsim::quant::QuantizerSpec x;
    x.bits = 16;
    x.operand_bits = block < 0 ? 0 : 8;
    x.operand_block = block < 0 ? 0 : block;
    prec.set_quantized(ssmsim::quant::Component::x, x);
    prec.validate();
    const QModel q = quantize_ptq(ck, prec, set, opt);
    const std::string what = block < 0 ? "stored operand" : block == 0 ? "static operand" : "block operand";
    for (const auto& [name, t] : q.tensors)
      EXPECT_TRUE(covers(t.component, name)) << what << ": " << name << " is not in the covers of "
                                             << ssmsim::quant::component_name(t.component);
    size_t xo = 0;
    for (const auto& [name, p] : q.points) {
      const PointInfo* found = nullptr;
      for (const PointInfo& row : kPoints)
        for (size_t i = 0; i < ck.config.n_layers; ++i)
          if (point_name(row.id, i) == name) found = &row;
      ASSERT_NE(found, nullptr) << what << ": " << name << " has no row in kPoints";
      EXPECT_TRUE(covers(found->component, name)) << what << ": " << name;
      if (found->id == PointId::xo) {
        ++xo;
        EXPECT_EQ(found->component, ssmsim::quant::Component::x) << name;
        EXPECT_EQ(p[0].format.width, 8) << name << ": operand_bits wide";
      }
    }
    EXPECT_EQ(xo, block == 0 ? ck.config.n_layers : 0u) << what;
  }
}
