// A quantized model file is validated before use (issue 17): every tensor and point the model
// config implies, with its shape, component, dtype, quantizer count, codes within their formats and
// zero points within the code range; nothing unknown; the metadata well-formed. Each case edits a
// valid file in one way and expects an InputError naming the file and the key: loosening any one
// rule in ssm_core/qmodel_io.cpp makes its case fail (a swapped tensor pair was a heap overflow in
// the engine before the shapes were checked).
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "quant/errors.hpp"
#include "ssm_core/qmodel.hpp"
#include "ssm_core/safetensors.hpp"
#include "tests/support/qmodel_fixtures.hpp"
#include "tests/support/file_edits.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim::core;
using ssmsim::quant::PrecisionConfig;
using ssmsim::testing::all_bits;

namespace {

// A valid 4-bit quantized model of the embedded checkpoint, written once.
const std::filesystem::path& valid_file() {
  static const std::filesystem::path path = [] {
    auto rng = ssmsim::testing::seeded_rng("qmodel_io");
    const SequenceSet set = ssmsim::testing::random_set(8, 40, rng);
    PtqOptions opt;
    opt.calib = 8;
    const QModel q = quantize_ptq(ssmsim::testing::embedded_checkpoint(), all_bits(4), set, opt);
    const auto p = ssmsim::testing::scratch_dir(std::string("qmodel_io_valid_") + ::testing::UnitTest::GetInstance()->current_test_info()->name()) / "valid.safetensors";
    save_qmodel(p, q);
    return p;
  }();
  return path;
}

void expect_error(const std::string& name, const std::function<void(SafeTensors&)>& edit, const std::string& text) {
  static const auto dir = ssmsim::testing::scratch_dir(std::string("qmodel_io_edits_") +
                                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
  ssmsim::testing::expect_edit_refused(valid_file(), dir, name, edit, [](const std::filesystem::path& p) { load_qmodel(p); },
                                       text);
}

}  // namespace

TEST(QModelFile, TheValidFileLoads) { EXPECT_NO_THROW(load_qmodel(valid_file())); }

TEST(QModelFile, TwoTensorsSwappedAreRefusedByShapeNotReadPastTheirBuffers) {
  expect_error("swapped_b_d", [](SafeTensors& st) {
    std::swap(st.tensors["layers.0.B"], st.tensors["layers.0.D"]);
    std::swap(st.metadata["q.layers.0.B"], st.metadata["q.layers.0.D"]);
  }, "tensor 'layers.0.");
  expect_error("swapped_data_only", [](SafeTensors& st) {
    std::swap(st.tensors["layers.0.B"], st.tensors["layers.0.D"]);
  }, "shape");
  expect_error("swapped_encoder_decoder", [](SafeTensors& st) {
    std::swap(st.tensors["encoder.weight"], st.tensors["decoder.weight"]);
  }, "but the model config implies");
}

TEST(QModelFile, ACodeOutsideItsFormatIsRefusedWithTheTensorAndElement) {
  expect_error("code100", [](SafeTensors& st) { st.tensors["layers.0.D"].bytes[1] = 100; },
               "tensor 'layers.0.D': code 100 at element 1 is outside format");
  // one past the top of a signed 4-bit format: the bound itself, not a loose one
  expect_error("code8", [](SafeTensors& st) { st.tensors["layers.0.D"].bytes[0] = 8; }, "code 8 at element 0");
  expect_error("code-9", [](SafeTensors& st) { st.tensors["layers.0.D"].bytes[0] = static_cast<uint8_t>(-9); },
               "code -9 at element 0");
}

TEST(QModelFile, MissingAndUnknownTensorsAreRefused) {
  expect_error("missing", [](SafeTensors& st) {
    st.tensors.erase("layers.0.C");
    st.metadata.erase("q.layers.0.C");
  }, "tensor 'layers.0.C' is missing");
  expect_error("unknown", [](SafeTensors& st) {
    st.tensors["layers.7.C"] = st.tensors["layers.0.C"];
    st.metadata["q.layers.7.C"] = st.metadata["q.layers.0.C"];
  }, "tensor 'layers.7.C' is not a tensor of this model");
  expect_error("no_format", [](SafeTensors& st) { st.metadata.erase("q.layers.0.C"); },
               "tensor 'layers.0.C' has no 'q.layers.0.C' metadata");
  expect_error("format_no_tensor", [](SafeTensors& st) { st.tensors.erase("layers.0.C"); },
               "metadata key 'q.layers.0.C'");
  expect_error("f32", [](SafeTensors& st) {
    st.tensors["layers.0.D"] = Tensor::from<float>(st.tensors["layers.0.D"].shape,
                                                   std::vector<float>(st.tensors["layers.0.D"].bytes.size(), 0.f));
  }, "dtype F32");
  expect_error("component", [](SafeTensors& st) {
    auto j = st.metadata["q.layers.0.D"];
    j.replace(j.find("\"D\""), 3, "\"B\"");
    st.metadata["q.layers.0.D"] = j;
  }, "has component 'B' but 'D' was expected");
}

TEST(QModelFile, QuantizerEntriesAndZeroPointsAreChecked) {
  expect_error("three_params", [](SafeTensors& st) {
    const std::string j = st.metadata["q.layers.0.D"];
    const auto a = j.find('['), b = j.rfind(']');
    const std::string one = j.substr(a + 1, j.find('}', a) - a);
    st.metadata["q.layers.0.D"] = j.substr(0, a + 1) + one + "," + one + "," + one + j.substr(b);
  }, "3 quantizer entries");
  expect_error("zp", [](SafeTensors& st) {
    std::string j = st.metadata["point.layers.0.act"];
    const auto at = j.find("\"zero_point\":") + 13;
    j.replace(at, j.find_first_of(",}", at) - at, "1000");
    st.metadata["point.layers.0.act"] = j;
  }, "zero point 1000 is outside format");
  expect_error("separate_real", [](SafeTensors& st) {
    std::string j = st.metadata["q.layers.0.D"];
    st.metadata["q.layers.0.D"] = j.substr(0, j.rfind('}')) + ",\"parts\":\"separate\"}";
  }, "tensor 'layers.0.D': parts 'separate' needs a complex tensor");
  expect_error("parts_xyz", [](SafeTensors& st) {
    std::string j = st.metadata["q.layers.0.A"];
    st.metadata["q.layers.0.A"] = j.substr(0, j.rfind('}')) + ",\"parts\":\"xyz\"}";
  }, "parts 'xyz'");
}

TEST(QModelFile, MalformedPointsAreInputErrorsNamingTheKey) {
  expect_error("act_empty", [](SafeTensors& st) { st.metadata["point.layers.0.act"] = "[]"; },
               "metadata key 'point.layers.0.act'");
  expect_error("act_json", [](SafeTensors& st) { st.metadata["point.layers.0.act"] = "[{"; },
               "(metadata key 'point.layers.0.act'): not valid JSON");
  expect_error("act_no_format", [](SafeTensors& st) {
    st.metadata["point.layers.0.act"] = R"([{"zero_point":0,"rounding":"half_even","overflow":"saturate"}])";
  }, "no 'format'");
  expect_error("act_missing", [](SafeTensors& st) { st.metadata.erase("point.layers.0.act"); },
               "'point.layers.0.act' is missing");
  expect_error("gate_missing", [](SafeTensors& st) { st.metadata.erase("point.gate"); }, "'point.gate' is missing");
  expect_error("point_unknown", [](SafeTensors& st) { st.metadata["point.layers.9.u"] = st.metadata["point.layers.0.u"]; },
               "'point.layers.9.u' is not a point of this model");
  expect_error("two_entries", [](SafeTensors& st) {
    const std::string j = st.metadata["point.layers.0.u"];
    st.metadata["point.layers.0.u"] = "[" + j.substr(1, j.size() - 2) + "," + j.substr(1);
  }, "holds 2 quantizer entries");
}

TEST(QModelFile, MetadataKeysAreRequiredAndGeluIsOnlyLutOrHard) {
  expect_error("gelu", [](SafeTensors& st) { st.metadata["gelu"] = "xyz"; }, "'xyz' is not a GELU; allowed: lut, hard");
  expect_error("no_gelu", [](SafeTensors& st) { st.metadata.erase("gelu"); }, "(metadata key 'gelu'): missing");
  expect_error("no_precision", [](SafeTensors& st) { st.metadata.erase("precision"); },
               "(metadata key 'precision'): missing");
  expect_error("q_not_object", [](SafeTensors& st) { st.metadata["q.layers.0.A"] = "[1]"; },
               "metadata key 'q.layers.0.A'");
  expect_error("saturated", [](SafeTensors& st) { st.metadata["saturated.layers.0.A"] = "+3"; }, "is not a count");
}

// The precision and model configs in the metadata are YAML read as config files are: a key given
// twice in one map is refused (the precision repeated whole would otherwise let its second copy win).
TEST(QModelFile, DuplicatedKeysInTheMetadataConfigsAreRefused) {
  expect_error("precision_dup", [](SafeTensors& st) {
    const std::string t = st.metadata["precision"];
    st.metadata["precision"] = t + "\n" + t;
  }, "duplicate key");
  expect_error("model_dup", [](SafeTensors& st) { st.metadata["model.H"] = "{a: 1, a: 2}"; },
               "(metadata key 'model.H'): __metadata__ model.H:1: duplicate key 'a'");
}
