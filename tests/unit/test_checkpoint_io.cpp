// A float checkpoint is validated before use (issue 17): every parameter the model config implies,
// with its shape and dtype, nothing unknown, every weight finite. Each case edits a valid file in one
// way and expects an InputError naming the file, the tensor and (for a non-finite weight) the index.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>

#include "quant/errors.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/model.hpp"
#include "ssm_core/safetensors.hpp"
#include "tests/support/file_edits.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim::core;

namespace {

// A small S4D model: 1 input, 10 classes, H 4, N 8.
ModelConfig small_config() {
  ModelConfig mc;
  mc.d_input = 1;
  mc.d_output = 10;
  mc.H = 4;
  mc.N = 8;
  return mc;
}

// Its checkpoint with seeded finite weights, written once.
const std::filesystem::path& valid_file() {
  static const std::filesystem::path path = [] {
    const Model model(small_config());
    auto rng = ssmsim::testing::seeded_rng("checkpoint_io");
    std::vector<float> params(model.layout().total());
    for (auto& p : params) p = std::uniform_real_distribution<float>(-0.5f, 0.5f)(rng);
    const auto p = ssmsim::testing::scratch_dir(std::string("checkpoint_io_valid_") + ::testing::UnitTest::GetInstance()->current_test_info()->name()) / "valid.safetensors";
    save_checkpoint(p, model, params);
    return p;
  }();
  return path;
}

void expect_error(const std::string& name, const std::function<void(SafeTensors&)>& edit, const std::string& text) {
  static const auto dir = ssmsim::testing::scratch_dir(std::string("checkpoint_io_edits_") +
                                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
  ssmsim::testing::expect_edit_refused(valid_file(), dir, name, edit, [](const std::filesystem::path& p) { load_checkpoint(p); },
                                       text);
}

void set_float(Tensor& t, size_t i, float v) {
  auto a = t.as<float>();
  a[i] = v;
  t = Tensor::from<float>(t.shape, a);
}

}  // namespace

TEST(CheckpointFile, TheValidFileLoadsWithFiniteWeights) {
  const FloatCheckpoint ck = load_checkpoint(valid_file());
  EXPECT_EQ(ck.config.H, 4u);
  for (float v : ck.params) EXPECT_TRUE(std::isfinite(v));
}

TEST(CheckpointFile, ANanOrInfiniteWeightIsRefusedWithTheTensorAndIndex) {
  expect_error("nan", [](SafeTensors& st) { set_float(st.tensors["decoder.weight"], 3, std::nanf("")); },
               "tensor 'decoder.weight' holds NaN at element 3");
  expect_error("inf", [](SafeTensors& st) {
    set_float(st.tensors["encoder.bias"], 1, -std::numeric_limits<float>::infinity());
  }, "tensor 'encoder.bias' holds an infinity at element 1");
}

TEST(CheckpointFile, AnUnknownTensorIsRefusedNotIgnored) {
  expect_error("unknown", [](SafeTensors& st) { st.tensors["decoder.extra"] = st.tensors["decoder.bias"]; },
               "tensor 'decoder.extra' is not a parameter of the model");
}

TEST(CheckpointFile, AMissingTensorOrAWrongShapeIsRefused) {
  expect_error("missing", [](SafeTensors& st) { st.tensors.erase("decoder.bias"); }, "decoder.bias");
  expect_error("shape", [](SafeTensors& st) {
    std::swap(st.tensors["decoder.weight"], st.tensors["encoder.weight"]);
  }, "has shape");
  expect_error("dtype", [](SafeTensors& st) {
    Tensor& t = st.tensors["decoder.bias"];
    const auto a = t.as<float>();
    t = Tensor::from<double>(t.shape, std::vector<double>(a.begin(), a.end()));
  }, "decoder.bias");
}

// The model config in the metadata is YAML read as config files are: a syntax error or a key given
// twice in one map (yaml-cpp would keep both, and lookups and iteration disagree on which wins) is
// an InputError naming the metadata key.
TEST(CheckpointFile, MalformedOrDuplicatedModelMetadataIsRefused) {
  expect_error("meta_dup", [](SafeTensors& st) { st.metadata["model.H"] = "{a: 1, a: 2}"; },
               "__metadata__ model.H:1: duplicate key 'a'");
  expect_error("meta_syntax", [](SafeTensors& st) { st.metadata["model.H"] = "[4"; }, "YAML syntax error");
}

// A training state keeps what the run computed: an infinite Adam second moment (a squared gradient
// past the float range) is saved and loaded as it is, in the main group and in an extra one (QAT's
// recurrence), so that the run resumes; a non-finite parameter is still refused.
TEST(CheckpointFile, ATrainingStateWithAnInfiniteSecondMomentLoadsAndANonFiniteParameterDoesNot) {
  const Model model(small_config());
  TrainState s;
  s.params.assign(model.layout().total(), 0.25f);
  s.adam_m.assign(s.params.size(), 0.0f);
  s.adam_v = s.adam_m;
  s.adam_v[5] = std::numeric_limits<float>::infinity();
  TrainState g;
  g.params = {0.5f, -0.5f};
  g.adam_m = {0.0f, 0.0f};
  g.adam_v = {std::numeric_limits<float>::infinity(), 1.0f};
  const auto dir = ssmsim::testing::scratch_dir("checkpoint_io_state");
  save_train_state(dir / "s.state", model, s, {{"recurrence", g}});
  std::map<std::string, TrainState> groups;
  const TrainState back = load_train_state(dir / "s.state", model, &groups);
  EXPECT_TRUE(std::isinf(back.adam_v[5]));
  ASSERT_EQ(groups.count("recurrence"), 1u);
  EXPECT_TRUE(std::isinf(groups["recurrence"].adam_v[0]));
  EXPECT_EQ(groups["recurrence"].params, g.params);
  g.params[1] = std::nanf("");
  save_train_state(dir / "bad.state", model, s, {{"recurrence", g}});
  try {
    load_train_state(dir / "bad.state", model, &groups);
    FAIL() << "a NaN parameter was accepted";
  } catch (const ssmsim::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'recurrence.params' holds NaN at element 1"), std::string::npos)
        << e.what();
  }
}
