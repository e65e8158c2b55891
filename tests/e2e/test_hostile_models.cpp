// End-to-end: a hostile model file is refused with exit 2 naming the file and the tensor or key,
// never an internal error, a crash or a silent result (issue 17). The committed quantized model
// with two tensors renamed to each other made `eval` read past a heap buffer and exit 0, and
// `simulate` overflow an SRAM buffer; a NaN weight made `eval` print "loss nan" and exit 0; a FIFO
// given as a model made `info` wait forever.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/testing.hpp"

using ssmsim::testing::run_cli;
using ssmsim::testing::scratch_dir;
using ssmsim::testing::source_dir;

namespace {

const std::string kQModel = (source_dir() / "workloads/models/s4d_edge_smnist_hetero6x_qat.safetensors").string();
const std::string kFloat = (source_dir() / "workloads/models/s4d_edge_smnist.safetensors").string();

// A safetensors file opened for editing as the format spells it: the header JSON (tensor entries
// and "__metadata__") and the data section. The e2e tier edits files as a user would, without the
// library's reader.
struct Raw {
  nlohmann::json header;
  std::vector<uint8_t> data;
  // The byte of tensor `name`'s data at `offset`.
  uint8_t& at(const std::string& name, size_t offset) {
    return data[header.at(name).at("data_offsets")[0].get<size_t>() + offset];
  }
};

// `from` edited by `edit`, written as dir/name.safetensors.
std::string edited(const std::string& from, const std::string& name, const std::function<void(Raw&)>& edit) {
  static const auto dir = scratch_dir(std::string("hostile_models_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::ifstream in(from, std::ios::binary);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t n = 0;
  for (int b = 7; b >= 0; --b) n = (n << 8) | bytes.at(static_cast<size_t>(b));
  Raw raw;
  raw.header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n));
  raw.data.assign(bytes.begin() + 8 + static_cast<long>(n), bytes.end());
  edit(raw);
  std::string h = raw.header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  const auto p = dir / (name + ".safetensors");
  std::ofstream out(p, std::ios::binary);
  for (int b = 0; b < 8; ++b) out.put(static_cast<char>((h.size() >> (8 * b)) & 0xff));
  out << h;
  out.write(reinterpret_cast<const char*>(raw.data.data()), static_cast<std::streamsize>(raw.data.size()));
  return p.string();
}

// `args` exits 2 with an error that names `file` and says `what`.
void expect_refused(const std::vector<std::string>& args, const std::string& file, const std::string& what) {
  const auto r = run_cli(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
}

}  // namespace

TEST(HostileModels, TwoQuantizedTensorsRenamedToEachOtherAreRefusedByInfoAndEval) {
  const std::string f = edited(kQModel, "swapped", [](Raw& r) {
    std::swap(r.header["layers.0.B"], r.header["layers.0.D"]);
  });
  expect_refused({"info", "--ckpt", f}, f, "tensor 'layers.0.B' has shape [16] but the model config implies [16, 32, 2]");
  const std::string g = edited(kQModel, "swapped_meta", [](Raw& r) {
    std::swap(r.header["layers.0.B"], r.header["layers.0.D"]);
    auto& m = r.header["__metadata__"];
    std::swap(m["q.layers.0.B"], m["q.layers.0.D"]);
  });
  expect_refused({"info", "--ckpt", g}, g, "tensor 'layers.0.B' has component 'D' but 'B' was expected");
  SSMSIM_REQUIRE_MNIST();
  expect_refused({"eval", "--ckpt", f, "--workload", "smnist", "--limit", "8"}, f, "layers.0.B");
  // simulate overflowed a buffer of hw_models/sram.hpp on the same file
  expect_refused({"simulate", "--ckpt", f, "--hw", (source_dir() / "configs/hw/wide.yaml").string(), "--workload",
                  "smnist", "--limit", "1"},
                 f, "layers.0.B");
}

TEST(HostileModels, ACodeOutsideItsFormatAndMalformedPointMetadataExitTwo) {
  const std::string f = edited(kQModel, "code100", [](Raw& r) {
    r.at("layers.0.D", 0) = 100;  // the committed model's D has 8 bits or fewer
  });
  expect_refused({"info", "--ckpt", f}, f, "tensor 'layers.0.D': code 100 at element 0 is outside format");
  const std::string g = edited(kQModel, "act_empty", [](Raw& r) { r.header["__metadata__"]["point.layers.0.act"] = "[]"; });
  expect_refused({"info", "--ckpt", g}, g, "metadata key 'point.layers.0.act'");
  const std::string h = edited(kQModel, "gelu", [](Raw& r) { r.header["__metadata__"]["gelu"] = "xyz"; });
  expect_refused({"info", "--ckpt", h}, h, "allowed: lut, hard");
}

TEST(HostileModels, ANanWeightOrAnUnknownTensorInAFloatCheckpointExitTwo) {
  const std::string f = edited(kFloat, "nan", [](Raw& r) {
    const uint8_t nan[4] = {0x00, 0x00, 0xc0, 0x7f};  // a quiet NaN, little-endian F32
    for (size_t b = 0; b < 4; ++b) r.at("decoder.weight", 7 * 4 + b) = nan[b];
  });
  expect_refused({"info", "--ckpt", f}, f, "tensor 'decoder.weight' holds NaN at element 7");
  const std::string g = edited(kFloat, "unknown", [](Raw& r) {
    // "extra" takes decoder.bias's bytes, a copy of them appended for decoder.bias
    auto entry = r.header["decoder.bias"];
    const auto b = entry["data_offsets"][0].get<size_t>(), e = entry["data_offsets"][1].get<size_t>();
    r.header["extra"] = entry;
    const size_t end = r.data.size();
    r.data.insert(r.data.end(), r.data.begin() + static_cast<long>(b), r.data.begin() + static_cast<long>(e));
    r.header["decoder.bias"]["data_offsets"] = {end, end + (e - b)};
  });
  expect_refused({"info", "--ckpt", g}, g, "tensor 'extra' is not a parameter");
  SSMSIM_REQUIRE_MNIST();
  expect_refused({"eval", "--ckpt", f, "--workload", "smnist", "--limit", "8"}, f, "holds NaN");
}

TEST(HostileModels, AFifoADeviceOrAFolderGivenAsAModelExitTwoAtOnce) {
  const auto dir = scratch_dir(std::string("hostile_special_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  const std::string fifo = (dir / "model.safetensors").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_refused({"info", "--ckpt", fifo}, fifo, "FIFO");
  expect_refused({"info", "--ckpt", "/dev/zero"}, "/dev/zero", "device");
}

// A bad model is reported before the data are read: with the data folder empty, every command that
// takes a model and a workload names the model's fault, not the missing data (eval read the data
// first for a quantized model: the two were arguments of one call).
TEST(HostileModels, TheModelIsCheckedBeforeTheDataAreLoaded) {
  const auto empty = scratch_dir("hostile_models_no_data");
  const char* before = std::getenv("SSMSIM_DATA");
  const std::string saved = before ? before : "";
  ::setenv("SSMSIM_DATA", empty.c_str(), 1);
  const std::string f = edited(kQModel, "gelu_nodata", [](Raw& r) { r.header["__metadata__"]["gelu"] = "xyz"; });
  const std::string g = edited(kFloat, "nan_nodata", [](Raw& r) {
    for (size_t b = 0; b < 4; ++b) r.at("decoder.weight", b) = 0xff;  // a NaN
  });
  const std::string hw = (source_dir() / "configs/hw/wide.yaml").string();
  const std::string p8 = (source_dir() / "configs/precision/all8_static.yaml").string();
  expect_refused({"eval", "--ckpt", f, "--workload", "smnist", "--limit", "8"}, f, "allowed: lut, hard");
  expect_refused({"simulate", "--ckpt", f, "--hw", hw, "--workload", "smnist", "--limit", "1"}, f, "allowed: lut, hard");
  expect_refused({"eval", "--ckpt", g, "--workload", "smnist", "--limit", "8"}, g, "holds NaN");
  expect_refused({"eval", "--ckpt", g, "--precision", p8, "--workload", "smnist", "--limit", "8"}, g, "holds NaN");
  expect_refused({"quantize", "--ckpt", g, "--precision", p8, "--workload", "smnist", "--out",
                  (empty / "q.safetensors").string()},
                 g, "holds NaN");
  if (before)
    ::setenv("SSMSIM_DATA", saved.c_str(), 1);
  else
    ::unsetenv("SSMSIM_DATA");
}
