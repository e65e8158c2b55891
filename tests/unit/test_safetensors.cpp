// Safetensors reader and writer: round trips, exact bytes (hand-written and as Python writes them),
// deterministic atomic writes, and one precise InputError per kind of malformed file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "quant/errors.hpp"
#include "ssm_core/safetensors.hpp"
#include "tests/support/testing.hpp"

namespace ssmsim::core {
namespace {

using Bytes = std::vector<std::uint8_t>;
namespace fs = std::filesystem;

Bytes u64le(std::uint64_t n) {
  Bytes b;
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
  return b;
}

// A file: length prefix, `header` padded with spaces to a multiple of 8 (when `pad`), then `data`.
Bytes file_bytes(std::string header, const Bytes& data = {}, bool pad = true) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  Bytes out = u64le(header.size());
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes zeros(std::size_t n) { return Bytes(n, 0); }

Bytes slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void spit(const fs::path& p, const Bytes& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

SafeTensors parse(const Bytes& b, const std::string& name = "bad.safetensors") {
  return parse_safetensors(b.data(), b.size(), name);
}

// Expects parsing `b` to throw an InputError that names the file and contains every one of
// `mentions`.
void expect_rejected(const Bytes& b, const std::vector<std::string>& mentions) {
  try {
    parse(b);
    ADD_FAILURE() << "accepted; expected an error mentioning " << mentions.front();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("bad.safetensors: ", 0), 0u) << msg;
    for (const auto& m : mentions) EXPECT_NE(msg.find(m), std::string::npos) << m << " in: " << msg;
  }
}

void expect_header_rejected(const std::string& header, const Bytes& data,
                            const std::vector<std::string>& mentions) {
  SCOPED_TRACE(header);
  expect_rejected(file_bytes(header, data), mentions);
}

// A tensor entry as a header fragment.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":" + offsets + "}";
}

template <typename T>
std::vector<T> random_values(std::mt19937_64& rng, std::size_t n) {
  std::vector<T> v(n);
  for (auto& x : v) {
    if constexpr (std::is_floating_point_v<T>) {
      x = static_cast<T>(std::uniform_real_distribution<double>(-1e6, 1e6)(rng));
    } else {
      x = static_cast<T>(rng());  // every bit pattern of the type
    }
  }
  return v;
}

std::vector<std::int64_t> random_shape(std::mt19937_64& rng) {
  std::vector<std::int64_t> shape(std::uniform_int_distribution<std::size_t>(1, 3)(rng));
  for (auto& d : shape) d = std::uniform_int_distribution<std::int64_t>(1, 5)(rng);
  return shape;
}

template <typename T>
Tensor random_tensor(std::mt19937_64& rng) {
  auto shape = random_shape(rng);
  std::size_t n = 1;
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  return Tensor::from<T>(shape, random_values<T>(rng, n));
}

// One tensor of every dtype with a random shape, plus 0-d and empty tensors and awkward metadata.
SafeTensors sample(std::mt19937_64& rng) {
  SafeTensors st;
  st.tensors["f32"] = random_tensor<float>(rng);
  st.tensors["f64"] = random_tensor<double>(rng);
  st.tensors["i8"] = random_tensor<std::int8_t>(rng);
  st.tensors["i16"] = random_tensor<std::int16_t>(rng);
  st.tensors["i32"] = random_tensor<std::int32_t>(rng);
  st.tensors["i64"] = random_tensor<std::int64_t>(rng);
  st.tensors["u8"] = random_tensor<std::uint8_t>(rng);
  st.tensors["scalar.f64"] = Tensor::from<double>({}, {-0.0});
  st.tensors["scalar.i8"] = Tensor::from<std::int8_t>({}, {-128});
  st.tensors["empty.f32"] = Tensor::from<float>({0}, {});
  st.tensors["empty.i16"] = Tensor::from<std::int16_t>({3, 0, 2}, {});
  st.tensors["layers.0.kernel.C"] = random_tensor<float>(rng);
  st.metadata["model"] = "s4d";
  st.metadata["d_model"] = "16";
  st.metadata["quote\"back\\slash"] = "tab\tnewline\ncontrol\x01 unicode \xC3\xA9\xE2\x88\x9A";
  st.metadata["empty"] = "";
  return st;
}

// ---- dtypes and tensors -------------------------------------------------------------------------

TEST(SafetensorsDType, NamesSizesAndParsingAgreeForEveryDType) {
  const std::vector<std::pair<const char*, std::size_t>> want = {
      {"F32", 4}, {"F64", 8}, {"I8", 1}, {"I16", 2}, {"I32", 4}, {"I64", 8}, {"U8", 1}};
  ASSERT_EQ(all_dtypes().size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const DType d = all_dtypes()[i];
    EXPECT_STREQ(dtype_name(d), want[i].first);
    EXPECT_EQ(dtype_size(d), want[i].second);
    EXPECT_EQ(parse_dtype(dtype_name(d)), d);
  }
  try {
    parse_dtype("BF16");
    ADD_FAILURE() << "BF16 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'BF16' is a safetensors dtype that ssmsim does not read"),
              std::string::npos)
        << e.what();
  }
  try {
    parse_dtype("f32");
    ADD_FAILURE() << "f32 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown dtype 'f32' (supported: F32,"), std::string::npos)
        << e.what();
  }
}

TEST(SafetensorsTensor, FromAndAsRoundTripEveryElementTypeBitForBit) {
  auto rng = testing::seeded_rng();
  const auto check = [&](auto tag) {
    using T = decltype(tag);
    auto values = random_values<T>(rng, 257);
    values.push_back(std::numeric_limits<T>::lowest());
    values.push_back(std::numeric_limits<T>::max());
    values.push_back(std::numeric_limits<T>::min());
    const Tensor t = Tensor::from<T>({2, 130}, values);
    EXPECT_EQ(t.dtype, DTypeOf<T>::value);
    EXPECT_EQ(t.numel(), 260u);
    EXPECT_EQ(t.bytes.size(), 260 * sizeof(T));
    const auto back = t.as<T>();
    ASSERT_EQ(back.size(), values.size());
    EXPECT_EQ(std::memcmp(back.data(), values.data(), values.size() * sizeof(T)), 0);
  };
  check(float{});
  check(double{});
  check(std::int8_t{});
  check(std::int16_t{});
  check(std::int32_t{});
  check(std::int64_t{});
  check(std::uint8_t{});

  // NaN payloads and negative zero survive: bytes are copied, never converted.
  const float nan = std::nanf("0x123");
  const auto f = Tensor::from<float>({2}, {nan, -0.0f}).as<float>();
  std::uint32_t a = 0, b = 0, c = 0;
  std::memcpy(&a, &f[0], 4);
  std::memcpy(&b, &nan, 4);
  std::memcpy(&c, &f[1], 4);
  EXPECT_EQ(a, b);
  EXPECT_EQ(c, 0x80000000u);
}

TEST(SafetensorsTensor, StoresElementsLittleEndianRowMajor) {
  EXPECT_EQ(Tensor::from<std::int32_t>({2}, {0x01020304, -2}).bytes,
            (Bytes{0x04, 0x03, 0x02, 0x01, 0xFE, 0xFF, 0xFF, 0xFF}));
  EXPECT_EQ(Tensor::from<float>({}, {1.0f}).bytes, (Bytes{0x00, 0x00, 0x80, 0x3F}));
  EXPECT_EQ(Tensor::from<std::int16_t>({2, 2}, {1, 2, 3, 4}).bytes,
            (Bytes{1, 0, 2, 0, 3, 0, 4, 0}));
  EXPECT_EQ(Tensor::from<float>({}, {1.0f}).numel(), 1u);
  EXPECT_EQ(Tensor::from<float>({4, 0}, {}).numel(), 0u);
}

TEST(SafetensorsTensor, AsRefusesAnotherElementTypeAndFromRefusesAWrongCount) {
  const Tensor t = Tensor::from<float>({2}, {1.0f, 2.0f});
  EXPECT_THROW(t.as<double>(), InputError);
  EXPECT_THROW(t.as<std::int32_t>(), InputError);  // same size, still refused
  try {
    (void)t.as<double>();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("dtype F32 read as F64"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Tensor::from<float>({2, 3}, std::vector<float>(5)), InputError);
  EXPECT_THROW(Tensor::from<float>({-1}, {}), InputError);
  Tensor bad = t;
  bad.bytes.pop_back();
  EXPECT_THROW(bad.as<float>(), InputError);
}

// ---- round trips and exact bytes ----------------------------------------------------------------

TEST(SafetensorsRoundTrip, EveryDTypeWithMetadataScalarsAndEmptyTensorsSurvivesWriteAndRead) {
  auto rng = testing::seeded_rng();
  const SafeTensors st = sample(rng);
  const fs::path path = testing::scratch_dir("safetensors_round_trip") / "model.safetensors";
  write_safetensors(path, st);
  const SafeTensors back = read_safetensors(path);
  EXPECT_EQ(back, st);
  EXPECT_EQ(back.source, path.string());
  EXPECT_EQ(back.get("scalar.i8").shape, std::vector<std::int64_t>{});
  EXPECT_EQ(back.get("scalar.i8").as<std::int8_t>(), std::vector<std::int8_t>{-128});
  EXPECT_EQ(back.get("empty.i16").shape, (std::vector<std::int64_t>{3, 0, 2}));
  EXPECT_TRUE(back.get("empty.i16").bytes.empty());
  EXPECT_EQ(back.meta("quote\"back\\slash"), st.metadata.at("quote\"back\\slash"));

  // In memory too, and a file with no tensors and no metadata.
  const Bytes bytes = serialize_safetensors(st);
  EXPECT_EQ(parse(bytes, "mem"), st);
  EXPECT_EQ(serialize_safetensors(SafeTensors{}), file_bytes("{}"));
  EXPECT_EQ(parse(file_bytes("{}")), SafeTensors{});
}

TEST(SafetensorsWrite, WritingTwiceGivesIdenticalBytesWithAnAlignedSpacePaddedHeader) {
  auto rng = testing::seeded_rng();
  const SafeTensors st = sample(rng);
  const fs::path dir = testing::scratch_dir("safetensors_determinism");
  write_safetensors(dir / "a.safetensors", st);
  write_safetensors(dir / "b.safetensors", st);
  write_safetensors(dir / "b.safetensors", st);  // overwriting gives the same bytes again
  const Bytes a = slurp(dir / "a.safetensors"), b = slurp(dir / "b.safetensors");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, serialize_safetensors(st));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);

  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | a[static_cast<std::size_t>(i)];
  ASSERT_LE(8 + n, a.size());
  EXPECT_EQ(n % 8, 0u);
  const std::string header(a.begin() + 8, a.begin() + static_cast<std::ptrdiff_t>(8 + n));
  const auto brace = header.find_last_of('}');
  EXPECT_EQ(header.find_first_not_of(' ', brace + 1), std::string::npos) << header;
  EXPECT_LT(header.size() - brace - 1, 8u);

  // Layout: descending dtype rank (64-bit types first), then by name; every tensor's data sits at
  // a file offset that is a multiple of its element size.
  const auto j = nlohmann::json::parse(header);
  std::vector<std::pair<std::uint64_t, std::string>> by_offset;
  for (const auto& [name, e] : j.items()) {
    if (name == "__metadata__") continue;
    const auto begin = e.at("data_offsets")[0].get<std::uint64_t>();
    EXPECT_EQ((8 + n + begin) % dtype_size(parse_dtype(e.at("dtype").get<std::string>())), 0u)
        << name;
    by_offset.emplace_back(begin, name);
  }
  std::sort(by_offset.begin(), by_offset.end());
  std::vector<std::string> order;
  for (const auto& [off, name] : by_offset) order.push_back(name);
  // Empty tensors share offsets with their neighbours; compare the non-empty ones' order.
  std::vector<std::string> nonempty;
  for (const auto& name : order)
    if (!st.tensors.at(name).bytes.empty()) nonempty.push_back(name);
  EXPECT_EQ(nonempty,
            (std::vector<std::string>{"i64", "f64", "scalar.f64", "f32", "layers.0.kernel.C", "i32",
                                      "i16", "i8", "scalar.i8", "u8"}));
}

TEST(SafetensorsRead, AHandWrittenFileIsReadWithLittleEndianDataInOffsetOrder) {
  // Tensors listed out of offset order, a 0-d F64 and an I16 pair; header 107 bytes + 5 spaces.
  const std::string header = R"({"b":{"dtype":"I16","shape":[2],"data_offsets":[8,12]},)"
                             R"("a":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}     )";
  ASSERT_EQ(header.size(), 112u);
  Bytes file = {112, 0, 0, 0, 0, 0, 0, 0};
  file.insert(file.end(), header.begin(), header.end());
  const Bytes data = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F,  // 1.5
                      0xFE, 0xFF, 0x02, 0x01};                         // -2, 0x0102
  file.insert(file.end(), data.begin(), data.end());

  const SafeTensors st = parse(file, "hand.safetensors");
  EXPECT_EQ(st.tensors.size(), 2u);
  EXPECT_TRUE(st.metadata.empty());
  EXPECT_EQ(st.get("a", DType::F64, {}).as<double>(), std::vector<double>{1.5});
  EXPECT_EQ(st.get("b", DType::I16, {2}).as<std::int16_t>(), (std::vector<std::int16_t>{-2, 258}));
}

TEST(SafetensorsWrite, TheWritersBytesMatchAHandWrittenLayout) {
  SafeTensors st;
  st.tensors["b"] = Tensor::from<std::int16_t>({2}, {-2, 258});
  st.tensors["a"] = Tensor::from<double>({}, {1.5});
  const std::string header = R"({"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"I16","shape":[2],"data_offsets":[8,12]}}     )";
  Bytes want = {112, 0, 0, 0, 0, 0, 0, 0};
  want.insert(want.end(), header.begin(), header.end());
  const Bytes data = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F, 0xFE, 0xFF, 0x02, 0x01};
  want.insert(want.end(), data.begin(), data.end());
  EXPECT_EQ(serialize_safetensors(st), want);
}

TEST(SafetensorsRead, FilesExactlyAsPythonSafetensorsWritesThemAreReadAndReproduced) {
  // safetensors.torch.save_file({"a": torch.tensor([1.0, -2.0])}, f, metadata={"k": "v"}):
  // compact JSON, "__metadata__" first, then {"dtype","shape","data_offsets"}, 79 bytes + 1 space.
  {
    const std::string header =
        R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} )";
    Bytes file = {80, 0, 0, 0, 0, 0, 0, 0};
    file.insert(file.end(), header.begin(), header.end());
    const Bytes data = {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0};  // 1.0f, -2.0f
    file.insert(file.end(), data.begin(), data.end());
    const SafeTensors st = parse(file, "python.safetensors");
    EXPECT_EQ(st.meta("k"), "v");
    EXPECT_EQ(st.get("a", DType::F32, {2}).as<float>(), (std::vector<float>{1.0f, -2.0f}));
    EXPECT_EQ(serialize_safetensors(st), file);
  }
  // The reference implementation's own test vector: {"attn.0": F32 [1, 2, 3] = 0..5}, a header of
  // exactly 64 bytes (no padding).
  {
    const Bytes file = {64,  0,   0,   0,   0,   0,   0,   0,   123, 34,  97,  116, 116, 110,
                        46,  48,  34,  58,  123, 34,  100, 116, 121, 112, 101, 34,  58,  34,
                        70,  51,  50,  34,  44,  34,  115, 104, 97,  112, 101, 34,  58,  91,
                        49,  44,  50,  44,  51,  93,  44,  34,  100, 97,  116, 97,  95,  111,
                        102, 102, 115, 101, 116, 115, 34,  58,  91,  48,  44,  50,  52,  93,
                        125, 125, 0,   0,   0,   0,   0,   0,   128, 63,  0,   0,   0,   64,
                        0,   0,   64,  64,  0,   0,   128, 64,  0,   0,   160, 64};
    const SafeTensors st = parse(file, "reference.safetensors");
    EXPECT_EQ(st.get("attn.0", DType::F32, {1, 2, 3}).as<float>(),
              (std::vector<float>{0, 1, 2, 3, 4, 5}));
    EXPECT_EQ(serialize_safetensors(st), file);
  }
  // And its empty file with metadata {"framework": "pt"}: 35 bytes + 5 spaces.
  {
    const Bytes file = {40,  0,   0,   0,  0,  0,  0,   0,   123, 34,  95,  95,  109, 101, 116, 97,
                        100, 97,  116, 97, 95, 95, 34,  58,  123, 34,  102, 114, 97,  109, 101, 119,
                        111, 114, 107, 34, 58, 34, 112, 116, 34,  125, 125, 32,  32,  32,  32,  32};
    const SafeTensors st = parse(file, "reference.safetensors");
    EXPECT_TRUE(st.tensors.empty());
    EXPECT_EQ(st.meta("framework"), "pt");
    EXPECT_EQ(serialize_safetensors(st), file);
  }
}

TEST(SafetensorsRead, AcceptsNullMetadataAndUnpaddedOrWhitespacePaddedHeadersAsTheReferenceDoes) {
  const Bytes data = {0, 0, 0x80, 0x3F};
  const std::string a = entry("a", "F32", "[1]", "[0,4]");
  EXPECT_EQ(parse(file_bytes("{" + a + "}", data, false)).get("a").as<float>(),
            std::vector<float>{1.0f});
  EXPECT_EQ(parse(file_bytes(" \n{" + a + "}\t  ", data, false)).get("a").as<float>(),
            std::vector<float>{1.0f});
  EXPECT_TRUE(parse(file_bytes("{\"__metadata__\":null," + a + "}", data)).metadata.empty());
  // Zero-size tensors may sit at any boundary, including the end.
  const SafeTensors st = parse(file_bytes("{" + entry("z", "I64", "[0,7]", "[4,4]") + "," + a +
                                              "," + entry("y", "U8", "[0]", "[0,0]") + "}",
                                          data));
  EXPECT_EQ(st.get("z").shape, (std::vector<std::int64_t>{0, 7}));
  EXPECT_EQ(st.get("y").numel(), 0u);
}

// ---- lookups ------------------------------------------------------------------------------------

TEST(SafetensorsGet, NamesTheMissingTensorTheFileAndWhatExists) {
  SafeTensors st;
  st.source = "ckpt.safetensors";
  st.tensors["D"] = Tensor::from<float>({16}, std::vector<float>(16));
  st.tensors["log_dt"] = Tensor::from<float>({16}, std::vector<float>(16));
  st.metadata["H"] = "16";
  try {
    st.get("C");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "tensor 'C' not found in ckpt.safetensors; it holds 2 tensors: D, log_dt");
  }
  try {
    st.meta("N");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "metadata key 'N' not found in ckpt.safetensors; it holds 1 metadata keys: H");
  }
  EXPECT_EQ(st.meta("H"), "16");
  EXPECT_TRUE(st.contains("D"));
  EXPECT_FALSE(st.contains("C"));
}

TEST(SafetensorsGet, TheCheckedAccessorReportsShapeAndDTypeMismatches) {
  SafeTensors st;
  st.source = "ckpt.safetensors";
  st.tensors["C"] = Tensor::from<float>({16, 32}, std::vector<float>(16 * 32));
  EXPECT_EQ(&st.get("C", DType::F32, {16, 32}), &st.tensors.at("C"));
  EXPECT_EQ(&st.get("C", DType::F32, {-1, 32}), &st.tensors.at("C"));
  const auto message = [&](DType d, const std::vector<std::int64_t>& shape) {
    try {
      st.get("C", d, shape);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(DType::F32, {16, 64}),
            "tensor 'C' in ckpt.safetensors has shape [16, 32] but [16, 64] was expected");
  EXPECT_EQ(message(DType::F32, {-1, 64}),
            "tensor 'C' in ckpt.safetensors has shape [16, 32] but [*, 64] was expected");
  EXPECT_EQ(message(DType::F32, {16, 32, 1}),
            "tensor 'C' in ckpt.safetensors has shape [16, 32] but [16, 32, 1] was expected");
  EXPECT_EQ(message(DType::F64, {16, 32}),
            "tensor 'C' in ckpt.safetensors has dtype F32 but F64 was expected");
}

// ---- malformed files ----------------------------------------------------------------------------

TEST(SafetensorsReject, AFileShorterThanEightBytesOrUnreadable) {
  for (std::size_t n = 0; n < 8; ++n) {
    SCOPED_TRACE(n);
    expect_rejected(zeros(n), {"file is " + std::to_string(n) + " bytes, shorter than the 8-byte"});
  }
  const fs::path dir = testing::scratch_dir("safetensors_unreadable");
  try {
    read_safetensors(dir / "missing.safetensors");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(
        std::string(e.what()).find("cannot read safetensors file '" +
                                   (dir / "missing.safetensors").string() + "': No such file"),
        std::string::npos)
        << e.what();
  }
  try {
    read_safetensors(dir);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("it is a folder"), std::string::npos) << e.what();
  }
  spit(dir / "short.safetensors", {1, 2, 3});
  try {
    read_safetensors(dir / "short.safetensors");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(
        std::string(e.what()).find((dir / "short.safetensors").string() + ": file is 3 bytes"),
        std::string::npos)
        << e.what();
  }
}

TEST(SafetensorsReject, AHeaderLengthLargerThanTheFileOrAbsurd) {
  Bytes b = u64le(100);
  b.resize(8 + 99, ' ');
  expect_rejected(b, {"header length 100 (file bytes 0 to 7) is larger than the 99 bytes"});
  expect_rejected(u64le(1), {"header length 1", "larger than the 0 bytes"});
  expect_rejected(u64le(100'000'001),
                  {"header length 100000001", "exceeds the 100000000-byte limit"});
  expect_rejected(u64le(std::numeric_limits<std::uint64_t>::max()),
                  {"header length 18446744073709551615", "limit"});
}

TEST(SafetensorsReject, AHeaderThatIsNotJsonWithItsByteOffset) {
  // The '}' after the comma is header byte 7, file byte 15.
  expect_rejected(file_bytes(R"({"a":1,})"),
                  {"header is not valid JSON (at file byte offset 15, header byte 7)"});
  expect_rejected(file_bytes("{"), {"header is not valid JSON"});
  expect_rejected(file_bytes("", {}, false), {"header is not valid JSON"});
  expect_rejected(file_bytes("{} x"), {"header is not valid JSON"});
  // Not JSON either, though a lenient parser would stop at the NUL or skip the byte-order mark.
  expect_rejected(file_bytes(std::string("{}\0\0\0\0\0\0", 8), {}, false),
                  {"header contains a NUL byte at file byte offset 10 (header byte 2)"});
  expect_rejected(file_bytes(std::string("{}\0{\"x\":1}", 10)), {"NUL byte"});
  expect_rejected(file_bytes("\xEF\xBB\xBF{}"), {"byte-order mark"});
  expect_rejected(file_bytes("{\"a\xFF\":1}"), {"header is not valid JSON", "UTF-8"});
  expect_rejected(file_bytes("{\"\\ud800\":1}"), {"header is not valid JSON"});
  expect_rejected(file_bytes("{/*c*/}"), {"header is not valid JSON"});
  expect_rejected(file_bytes(std::string(10000, '[') + std::string(10000, ']')),
                  {"nests JSON 17 levels deep"});
}

TEST(SafetensorsReject, AHeaderThatIsNotAnObject) {
  expect_rejected(file_bytes("[]"), {"header JSON is an array, not an object"});
  expect_rejected(file_bytes("\"x\""), {"header JSON is a string, not an object"});
  expect_rejected(file_bytes("42"), {"header JSON is an integer, not an object"});
  expect_rejected(file_bytes("null"), {"header JSON is null, not an object"});
}

// A number no double holds escaped the parser as nlohmann's out_of_range (fuzz finding, checkpoint and
// safetensors targets): it is an InputError naming the number.
TEST(SafetensorsReject, ANumberBeyondADouble) {
  expect_header_rejected(R"({"w":{"dtype":"F32","shape":[1E504],"data_offsets":[0,8]}})", zeros(8),
                         {"header holds a number out of range", "1E504"});
  expect_header_rejected(R"({"__metadata__":{"k":"v"},"x":744e808})", zeros(8),
                         {"header holds a number out of range", "744e808"});
}

TEST(SafetensorsReject, ATensorEntryWithMissingKeysOrWrongJsonTypes) {
  const Bytes d8 = zeros(8);
  expect_header_rejected(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", d8,
                         {"tensor 'w': header entry has no 'dtype'"});
  expect_header_rejected(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", d8,
                         {"tensor 'w': header entry has no 'shape'"});
  expect_header_rejected(R"({"w":{"dtype":"F32","shape":[2]}})", d8,
                         {"tensor 'w': header entry has no 'data_offsets'"});
  expect_header_rejected(R"({"w":[1,2]})", d8, {"tensor 'w': its header entry is an array"});
  expect_header_rejected(R"({"w":"F32"})", d8, {"tensor 'w': its header entry is a string"});
  expect_header_rejected(R"({"w":{"dtype":5,"shape":[2],"data_offsets":[0,8]}})", d8,
                         {"tensor 'w': 'dtype' is an integer, not a string"});
  expect_header_rejected(R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", d8,
                         {"tensor 'w': 'shape' is a string, not an array of integers"});
  expect_header_rejected(R"({"w":{"dtype":"F32","shape":[2,"1"],"data_offsets":[0,8]}})", d8,
                         {"tensor 'w': shape dim 1 is a string, not an integer"});
  expect_header_rejected(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", d8,
                         {"tensor 'w': 'data_offsets' is an array of 1 values, not [begin, end]"});
  expect_header_rejected(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})", d8,
                         {"tensor 'w': 'data_offsets' is an array of 3 values"});
  expect_header_rejected(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":{"b":0}}})", d8,
                         {"tensor 'w': 'data_offsets' is an object, not [begin, end]"});
  expect_header_rejected(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}})", d8,
                         {"tensor 'w': data_offsets end is a string, not an integer"});
  expect_header_rejected(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0.0,8]}})", d8,
                         {"tensor 'w': data_offsets begin is not an integer (0.0)"});
  expect_header_rejected(
      R"({"w":{"dtype":"F32","shape":[2],"offsets":[0,8],"data_offsets":[0,8]}})", d8,
      {"tensor 'w': unknown key 'offsets' in its header entry"});
}

TEST(SafetensorsReject, AnUnknownOrUnsupportedDType) {
  const Bytes d8 = zeros(8);
  expect_header_rejected("{" + entry("w", "Q7", "[2]", "[0,8]") + "}", d8,
                         {"tensor 'w': unknown dtype 'Q7' (supported: F32, F64"});
  expect_header_rejected("{" + entry("w", "f32", "[2]", "[0,8]") + "}", d8,
                         {"tensor 'w': unknown dtype 'f32'"});
  expect_header_rejected(
      "{" + entry("w", "F16", "[4]", "[0,8]") + "}", d8,
      {"tensor 'w': dtype 'F16' is a safetensors dtype that ssmsim does not read"});
  expect_header_rejected("{" + entry("w", "BF16", "[4]", "[0,8]") + "}", d8,
                         {"tensor 'w': dtype 'BF16'", "does not read"});
}

TEST(SafetensorsReject, NegativeOrNonIntegerShapeDims) {
  const Bytes d8 = zeros(8);
  expect_header_rejected("{" + entry("w", "F32", "[2,-1]", "[0,8]") + "}", d8,
                         {"tensor 'w': shape dim 1 is negative (-1)"});
  expect_header_rejected("{" + entry("w", "F32", "[2.5]", "[0,8]") + "}", d8,
                         {"tensor 'w': shape dim 0 is not an integer (2.5)"});
  expect_header_rejected("{" + entry("w", "F32", "[2.0]", "[0,8]") + "}", d8,
                         {"tensor 'w': shape dim 0 is not an integer (2.0)"});
  expect_header_rejected("{" + entry("w", "F32", "[true]", "[0,8]") + "}", d8,
                         {"tensor 'w': shape dim 0 is a boolean"});
  expect_header_rejected("{" + entry("w", "F32", "[18446744073709551616]", "[0,8]") + "}", d8,
                         {"tensor 'w': shape dim 0 is not an integer"});
  expect_header_rejected("{" + entry("w", "F32", "[9223372036854775808,0]", "[0,0]") + "}", {},
                         {"tensor 'w': shape dim 0 = 9223372036854775808 exceeds 2^63 - 1"});
}

TEST(SafetensorsReject, AnElementOrByteCountThatOverflows) {
  expect_header_rejected(
      "{" + entry("w", "F32", "[4294967296,4294967296]", "[0,8]") + "}", zeros(8),
      {"tensor 'w': shape [4294967296, 4294967296] with dtype F32 overflows 64 bits"});
  expect_header_rejected("{" + entry("w", "F32", "[2305843009213693952,2]", "[0,8]") + "}",
                         zeros(8), {"tensor 'w'", "overflows 64 bits"});
  expect_header_rejected("{" + entry("w", "I64", "[4611686018427387904,2,2]", "[0,8]") + "}",
                         zeros(8), {"tensor 'w'", "overflows 64 bits"});
}

TEST(SafetensorsReject, DataOffsetsOutOfRangeReversedOrNotMatchingTheShape) {
  expect_header_rejected("{" + entry("w", "F32", "[4]", "[0,16]") + "}", zeros(8),
                         {"tensor 'w': data_offsets [0, 16] run past the end of the data section, "
                          "which holds 8 bytes (file bytes [64, 72))"});
  expect_header_rejected("{" + entry("w", "F32", "[2]", "[8,0]") + "}", zeros(8),
                         {"tensor 'w': data_offsets [8, 0] are reversed"});
  expect_header_rejected("{" + entry("w", "F32", "[2]", "[-8,0]") + "}", zeros(8),
                         {"tensor 'w': data_offsets begin is negative (-8)"});
  expect_header_rejected(
      "{" + entry("w", "F32", "[3]", "[0,8]") + "}", zeros(8),
      {"tensor 'w': data_offsets [0, 8] hold 8 bytes but dtype F32 and shape [3] need 12"});
  expect_header_rejected(
      "{" + entry("w", "F64", "[]", "[0,4]") + "}", zeros(4),
      {"tensor 'w': data_offsets [0, 4] hold 4 bytes but dtype F64 and shape [] need 8"});
  // more bytes than the shape needs is as wrong as fewer (a check loosened to `<` fails here)
  expect_header_rejected(
      "{" + entry("w", "F32", "[1]", "[0,8]") + "}", zeros(8),
      {"tensor 'w': data_offsets [0, 8] hold 8 bytes but dtype F32 and shape [1] need 4"});
  expect_header_rejected(
      "{" + entry("w", "I8", "[]", "[0,2]") + "}", zeros(2),
      {"tensor 'w': data_offsets [0, 2] hold 2 bytes but dtype I8 and shape [] need 1"});
}

TEST(SafetensorsReject, AFifoADeviceOrAFolderBeforeOpeningIt) {
  const fs::path dir = testing::scratch_dir("safetensors_special");
  auto message = [](const fs::path& p) -> std::string {
    try {
      read_safetensors(p);
    } catch (const InputError& e) {
      return e.what();
    }
    return "<accepted>";
  };
  ASSERT_EQ(::mkfifo((dir / "fifo.safetensors").c_str(), 0600), 0);
  // opening a FIFO for reading waits for a writer: only the check before the open keeps this
  // from hanging
  EXPECT_EQ(message(dir / "fifo.safetensors"),
            "cannot read safetensors file '" + (dir / "fifo.safetensors").string() +
                "': it is a FIFO (named pipe), not a regular file");
  EXPECT_EQ(message("/dev/zero"), "cannot read safetensors file '/dev/zero': it is a device, not a regular file");
  EXPECT_EQ(message(dir), "cannot read safetensors file '" + dir.string() + "': it is a folder, not a file");
  EXPECT_THROW(require_regular_file(dir / "fifo.safetensors", "model"), InputError);
  EXPECT_NO_THROW(require_regular_file(testing::source_dir() / "CMakeLists.txt", "file"));
}

TEST(SafetensorsReject, AHugeFileWithAValidHeaderBeforeAllocatingIt) {
  // 20 GiB (sparse) behind a header that describes it exactly: refused by its size, not read
  // whole first (that died with std::bad_alloc)
  const fs::path dir = testing::scratch_dir("safetensors_huge");
  const std::uint64_t n = std::uint64_t{20} << 30;
  spit(dir / "huge.safetensors",
       file_bytes("{" + entry("w", "F32", "[" + std::to_string(n / 4) + "]", "[0," + std::to_string(n) + "]") + "}"));
  const auto size = fs::file_size(dir / "huge.safetensors") + n;
  fs::resize_file(dir / "huge.safetensors", size);
  try {
    read_safetensors(dir / "huge.safetensors");
    ADD_FAILURE() << "a 20 GiB file was read";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "safetensors file '" + (dir / "huge.safetensors").string() + "' is " +
                                         std::to_string(size) + " bytes, over the 4294967296-byte limit ssmsim "
                                         "reads (kMaxSafetensorsFileBytes)");
  }
  fs::remove(dir / "huge.safetensors");
}

TEST(SafetensorsReject, OverlappingTensorsGapsAndUncoveredBytes) {
  const std::string a8 = entry("a", "F32", "[2]", "[0,8]");
  expect_header_rejected("{" + a8 + "," + entry("b", "F32", "[2]", "[4,12]") + "}", zeros(12),
                         {"tensor 'b': data_offsets [4, 12] overlap tensor 'a' at [0, 8]"});
  expect_header_rejected("{" + a8 + "," + entry("b", "I8", "[8]", "[0,8]") + "}", zeros(8),
                         {"overlap tensor '", "[0, 8]"});
  expect_header_rejected("{" + a8 + "," + entry("z", "I8", "[0]", "[4,4]") + "}", zeros(8),
                         {"tensor 'z': data_offsets [4, 4] overlap tensor 'a' at [0, 8]"});
  expect_header_rejected(
      "{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[1]", "[8,12]") + "}",
      zeros(12),
      {"data section bytes [4, 8) (file bytes [124, 128)) belong to no tensor: a gap before "
       "tensor 'b' at [8, 12]"});
  expect_header_rejected("{" + entry("a", "F32", "[1]", "[4,8]") + "}", zeros(8),
                         {"data section bytes [0, 4)", "gap before tensor 'a'"});
  expect_header_rejected("{" + entry("a", "F32", "[1]", "[0,4]") + "}", zeros(8),
                         {"the data section holds 8 bytes",
                          "cover only 4; trailing bytes [4, 8) belong to no tensor"});
  expect_rejected(file_bytes("{}", zeros(3)), {"the data section holds 3 bytes", "cover only 0"});
  expect_rejected(file_bytes("{\"__metadata__\":{}}", zeros(8)), {"trailing bytes [0, 8)"});
}

TEST(SafetensorsReject, MetadataThatIsNotAnObjectOfStrings) {
  expect_rejected(file_bytes(R"({"__metadata__":["a"]})"),
                  {"'__metadata__' is an array, not an object of strings"});
  expect_rejected(file_bytes(R"({"__metadata__":"a"})"),
                  {"'__metadata__' is a string, not an object of strings"});
  expect_rejected(file_bytes(R"({"__metadata__":{"epochs":3}})"),
                  {"'__metadata__' key 'epochs' is an integer; metadata values must be strings"});
  expect_rejected(file_bytes(R"({"__metadata__":{"x":null}})"), {"'__metadata__' key 'x' is null"});
  expect_rejected(file_bytes(R"({"__metadata__":{"x":{"y":"z"}}})"),
                  {"'__metadata__' key 'x' is an object"});
}

TEST(SafetensorsReject, DuplicateKeysAnywhereInTheHeader) {
  const Bytes d8 = zeros(8);
  expect_header_rejected(
      "{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("a", "F32", "[2]", "[0,8]") + "}", d8,
      {"duplicate header key 'a'"});
  expect_header_rejected(R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                         d8, {"duplicate key 'dtype' in the header entry 'a'"});
  expect_rejected(file_bytes(R"({"__metadata__":{"k":"v","k":"w"}})"),
                  {"duplicate key 'k' in the header entry '__metadata__'"});
  expect_rejected(file_bytes(R"({"__metadata__":{},"__metadata__":{}})"),
                  {"duplicate header key '__metadata__'"});
}

TEST(SafetensorsReject, TruncatedOrCorruptedFilesOnlyEverThrowInputError) {
  auto rng = testing::seeded_rng();
  const Bytes good = serialize_safetensors(sample(rng));
  for (std::size_t n = 0; n < good.size(); ++n) {
    const Bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW(parse(cut), InputError) << "truncated to " << n;
  }
  // Each flipped file either loads or throws the typed error naming the file. Flips only in the
  // data section always load, to exactly the flipped bytes (the header and layout are unchanged,
  // so the writer reproduces the flipped file); a flip in the length or header loads only if the
  // result is itself a valid file.
  std::uint64_t data_start = 8;
  for (int b = 0; b < 8; ++b) data_start += std::uint64_t{good[static_cast<std::size_t>(b)]} << (8 * b);
  ASSERT_LT(data_start, good.size());
  int rejected = 0, data_only = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    SCOPED_TRACE(trial);
    Bytes bad = good;
    bool header_hit = false;
    const int flips = std::uniform_int_distribution<int>(1, 4)(rng);
    for (int f = 0; f < flips; ++f) {
      const std::size_t at = std::uniform_int_distribution<std::size_t>(0, bad.size() - 1)(rng);
      bad[at] ^= static_cast<std::uint8_t>(1u << std::uniform_int_distribution<int>(0, 7)(rng));
      header_hit |= at < data_start;
    }
    if (!header_hit) {
      ++data_only;
      const SafeTensors got = parse(bad);
      EXPECT_EQ(serialize_safetensors(got), bad);
      continue;
    }
    try {
      const SafeTensors got = parse(bad);
      EXPECT_EQ(parse(serialize_safetensors(got)), got);
    } catch (const InputError& e) {
      ++rejected;
      EXPECT_EQ(std::string(e.what()).rfind("bad.safetensors: ", 0), 0u) << e.what();
    }
  }
  // both branches ran many times: the loop is not vacuous
  EXPECT_GT(rejected, 500);
  EXPECT_GT(data_only, 50);
}

// ---- atomic writes ------------------------------------------------------------------------------

TEST(SafetensorsWrite, LeavesNoFileWhenTheFolderDoesNotExist) {
  const fs::path dir = testing::scratch_dir("safetensors_no_folder");
  const fs::path target = dir / "missing" / "model.safetensors";
  try {
    write_safetensors(target, SafeTensors{});
    ADD_FAILURE();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cannot write safetensors file '" + target.string() + "'"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(dir / "missing"));
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(SafetensorsWrite, LeavesNoPartialFileAndKeepsTheOldOneOnError) {
  const fs::path dir = testing::scratch_dir("safetensors_no_partial");
  const fs::path target = dir / "model.safetensors";
  SafeTensors good;
  good.tensors["w"] = Tensor::from<float>({2}, {1.0f, 2.0f});
  write_safetensors(target, good);
  const Bytes before = slurp(target);

  const auto expect_failure = [&](const fs::path& path, const SafeTensors& st,
                                  const std::string& why) {
    SCOPED_TRACE(why);
    try {
      write_safetensors(path, st);
      ADD_FAILURE();
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("cannot write safetensors file '" + path.string() + "'"),
                std::string::npos)
          << msg;
      EXPECT_NE(msg.find(why), std::string::npos) << msg;
    }
  };
  SafeTensors bad = good;
  bad.tensors["w"].bytes.pop_back();
  expect_failure(target, bad, "tensor 'w': holds 7 bytes but dtype F32 and shape [2] need 2 x 4");
  SafeTensors reserved = good;
  reserved.tensors["__metadata__"] = good.tensors["w"];
  expect_failure(target, reserved, "tensor '__metadata__': the name is reserved");
  SafeTensors negative = good;
  negative.tensors["w"].shape = {-2};
  expect_failure(target, negative, "tensor 'w': shape [-2] has a negative dim");
  SafeTensors not_utf8 = good;
  not_utf8.metadata["k"] = "\xFF";
  expect_failure(target, not_utf8, "metadata value of key 'k' is not valid UTF-8");

  // The rename itself fails: the target is a folder. The temporary file is removed.
  fs::create_directory(dir / "folder.safetensors");
  expect_failure(dir / "folder.safetensors", good, "renaming");

  EXPECT_EQ(slurp(target), before);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"folder.safetensors", "model.safetensors"}));
  EXPECT_TRUE(fs::is_empty(dir / "folder.safetensors"));
}

}  // namespace
}  // namespace ssmsim::core
