// workloads::read_idx on small IDX files written by the test: a good file loads; each defect is
// reported with the file name, the reason and the fix hint. Also: the MNIST checksum list that
// scripts/fetch_data.sh checks is the one the C++ loader checks.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "quant/errors.hpp"
#include "tests/support/testing.hpp"
#include "workloads/mnist.hpp"
#include "workloads/sha256.hpp"

namespace {

namespace fs = std::filesystem;
using ssmsim::InputError;
using ssmsim::workloads::IdxExpect;
using ssmsim::workloads::kIdxMagicImages;
using ssmsim::workloads::kIdxMagicVector;
using ssmsim::workloads::read_idx;

void put_be32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// An IDX file of unsigned bytes with the given magic and dimensions and `payload` data bytes
// (the right number when payload < 0).
std::vector<uint8_t> idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims,
                               long payload = -1) {
  std::vector<uint8_t> b;
  put_be32(b, magic);
  for (uint32_t d : dims) put_be32(b, d);
  size_t n = 1;
  for (uint32_t d : dims) n *= d;
  if (payload >= 0) n = static_cast<size_t>(payload);
  for (size_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(i * 31 + 7));
  return b;
}

fs::path write_file(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  return p;
}

// The message of the InputError that read_idx throws, or a note that it threw none.
std::string error_of(const fs::path& p, const IdxExpect& expect) {
  try {
    read_idx(p, expect, "run `make data`");
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not an InputError: ") + e.what() + ">";
  }
  return "<no error>";
}

TEST(IdxReader, ReadsAWellFormedImageFileWithItsDimensionsAndBytes) {
  const auto dir = ssmsim::testing::scratch_dir("idx_good");
  const auto bytes = idx_bytes(kIdxMagicImages, {3, 2, 4});
  const auto p = write_file(dir / "good-idx3-ubyte", bytes);
  const auto arr = read_idx(
      p, {kIdxMagicImages, {3, 2, 4}, ssmsim::workloads::sha256_hex(bytes.data(), bytes.size())});
  EXPECT_EQ(arr.dims, (std::vector<uint32_t>{3, 2, 4}));
  ASSERT_EQ(arr.size(), 24u);
  EXPECT_EQ(arr.header_size, 16u);
  for (size_t i = 0; i < arr.size(); ++i)
    EXPECT_EQ(arr.data()[i], static_cast<uint8_t>(i * 31 + 7));
}

TEST(IdxReader, ReadsALabelVectorWithoutExpectedDimensions) {
  const auto dir = ssmsim::testing::scratch_dir("idx_vector");
  const auto p = write_file(dir / "labels-idx1-ubyte", idx_bytes(kIdxMagicVector, {5}));
  const auto arr = read_idx(p, {kIdxMagicVector, {}, ""});
  EXPECT_EQ(arr.dims, (std::vector<uint32_t>{5}));
  EXPECT_EQ(arr.size(), 5u);
}

TEST(IdxReader, ReportsAMissingFileByNameWithTheFix) {
  const auto dir = ssmsim::testing::scratch_dir("idx_missing");
  const std::string msg = error_of(dir / "absent-idx3-ubyte", {});
  EXPECT_NE(msg.find("absent-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  EXPECT_NE(msg.find("make data"), std::string::npos) << msg;
}

TEST(IdxReader, ReportsTruncatedDataWithTheExpectedAndActualSizes) {
  const auto dir = ssmsim::testing::scratch_dir("idx_truncated");
  const auto p =
      write_file(dir / "short-idx3-ubyte", idx_bytes(kIdxMagicImages, {10, 28, 28}, 100));
  const std::string msg = error_of(p, {kIdxMagicImages, {10, 28, 28}, ""});
  EXPECT_NE(msg.find("short-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find("7840"), std::string::npos) << msg;
  EXPECT_NE(msg.find("100"), std::string::npos) << msg;
  EXPECT_NE(msg.find("make data"), std::string::npos) << msg;
}

TEST(IdxReader, ReportsATruncatedHeader) {
  const auto dir = ssmsim::testing::scratch_dir("idx_header");
  auto bytes = idx_bytes(kIdxMagicImages, {10, 28, 28});
  bytes.resize(9);
  const auto p = write_file(dir / "stub-idx3-ubyte", bytes);
  const std::string msg = error_of(p, {});
  EXPECT_NE(msg.find("stub-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated header"), std::string::npos) << msg;

  const auto empty = write_file(dir / "empty-idx3-ubyte", {});
  EXPECT_NE(error_of(empty, {}).find("truncated"), std::string::npos);
}

TEST(IdxReader, ReportsTrailingBytesAfterTheData) {
  const auto dir = ssmsim::testing::scratch_dir("idx_long");
  const auto p = write_file(dir / "long-idx1-ubyte", idx_bytes(kIdxMagicVector, {4}, 6));
  const std::string msg = error_of(p, {kIdxMagicVector, {}, ""});
  EXPECT_NE(msg.find("long-idx1-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2 bytes beyond"), std::string::npos) << msg;
}

TEST(IdxReader, ChecksAHugeFileAgainstItsHeaderBeforeReadingIt) {
  // a 20 GiB sparse labels file whose header promises 4 labels: refused from the header and the
  // file's size, before anything is allocated (reading it whole first died with std::bad_alloc)
  const auto dir = ssmsim::testing::scratch_dir("idx_huge");
  const auto p = write_file(dir / "huge-idx1-ubyte", idx_bytes(kIdxMagicVector, {4}));
  fs::resize_file(p, uintmax_t{20} << 30);
  const std::string msg = error_of(p, {kIdxMagicVector, {}, ""});
  fs::remove(p);
  EXPECT_NE(msg.find("huge-idx1-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("21474836468 bytes beyond the 4"), std::string::npos) << msg;
}

TEST(IdxReader, RefusesADeviceOrAFolderAsAnIdxFile) {
  EXPECT_NE(error_of("/dev/zero", {}).find("not a regular file"), std::string::npos);
  const auto dir = ssmsim::testing::scratch_dir("idx_folder");
  EXPECT_NE(error_of(dir, {}).find("not a regular file"), std::string::npos);
}

TEST(IdxReader, ReportsABadMagicNumberInHex) {
  const auto dir = ssmsim::testing::scratch_dir("idx_magic");
  const auto p = write_file(dir / "labels-as-images", idx_bytes(kIdxMagicVector, {4}));
  const std::string msg = error_of(p, {kIdxMagicImages, {}, ""});
  EXPECT_NE(msg.find("labels-as-images"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad magic number 0x00000801, expected 0x00000803"), std::string::npos) << msg;

  const auto gz = write_file(dir / "gzipped", {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0});
  EXPECT_NE(error_of(gz, {}).find("bad magic number 0x1f8b0800"), std::string::npos);
}

TEST(IdxReader, ReportsWrongDimensionsAgainstTheExpectedOnes) {
  const auto dir = ssmsim::testing::scratch_dir("idx_dims");
  const auto p = write_file(dir / "odd-idx3-ubyte", idx_bytes(kIdxMagicImages, {2, 27, 28}));
  const std::string msg = error_of(p, {kIdxMagicImages, {2, 28, 28}, ""});
  EXPECT_NE(msg.find("odd-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("wrong dimensions"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2 x 27 x 28"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2 x 28 x 28"), std::string::npos) << msg;
}

TEST(IdxReader, ReportsAChecksumMismatchWithBothDigests) {
  const auto dir = ssmsim::testing::scratch_dir("idx_sha");
  const auto bytes = idx_bytes(kIdxMagicVector, {8});
  const auto p = write_file(dir / "tampered-idx1-ubyte", bytes);
  const std::string wrong(64, '0');
  const std::string msg = error_of(p, {kIdxMagicVector, {8}, wrong});
  EXPECT_NE(msg.find("tampered-idx1-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("checksum mismatch"), std::string::npos) << msg;
  EXPECT_NE(msg.find(ssmsim::workloads::sha256_hex(bytes.data(), bytes.size())), std::string::npos)
      << msg;
  EXPECT_NE(msg.find(wrong), std::string::npos) << msg;
}

TEST(IdxReader, RechecksTheChecksumWhenAVerifiedFileIsReplaced) {
  const auto dir = ssmsim::testing::scratch_dir("idx_replaced");
  auto bytes = idx_bytes(kIdxMagicVector, {8});
  const auto p = write_file(dir / "data-idx1-ubyte", bytes);
  const IdxExpect expect{
      kIdxMagicVector, {8}, ssmsim::workloads::sha256_hex(bytes.data(), bytes.size())};
  EXPECT_NO_THROW(read_idx(p, expect));
  EXPECT_NO_THROW(read_idx(p, expect));  // second read: the digest is remembered
  bytes.back() ^= 1;                     // same size, same header: only the digest can tell
  write_file(p, bytes);
  // A later modification time, so the change is seen even where the clock is coarse.
  fs::last_write_time(p, fs::last_write_time(p) + std::chrono::seconds(5));
  EXPECT_NE(error_of(p, expect).find("checksum mismatch"), std::string::npos);
}

TEST(MnistFiles, ListTheSameChecksumsAsTheFileTheFetchScriptChecks) {
  std::ifstream in(ssmsim::testing::source_dir() / "workloads" / "mnist.sha256");
  ASSERT_TRUE(in) << "workloads/mnist.sha256 is missing";
  std::vector<std::pair<std::string, std::string>> listed;
  std::string sum, name;
  while (in >> sum >> name) listed.emplace_back(name, sum);
  const auto& files = ssmsim::workloads::mnist_files();
  ASSERT_EQ(listed.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(listed[i].first, files[i].name);
    EXPECT_EQ(listed[i].second, files[i].expect.sha256) << files[i].name;
  }
}

TEST(MnistFiles, AMissingCacheNamesTheFileAndTheCommandThatFetchesIt) {
  const auto dir = ssmsim::testing::scratch_dir("mnist_empty");
  ssmsim::workloads::WorkloadOptions options;
  options.data_dir = dir.string();
  try {
    ssmsim::workloads::load_workload("smnist", options);
    FAIL() << "loading smnist from an empty folder did not throw";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find((dir / "train-images-idx3-ubyte").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
    EXPECT_NE(msg.find("SSMSIM_DATA=" + dir.string() + " make data"), std::string::npos) << msg;
  }
}

}  // namespace
