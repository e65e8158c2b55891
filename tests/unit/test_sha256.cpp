// workloads::Sha256 against the FIPS 180-4 / NIST example vectors and, around the padding
// boundaries, against digests computed independently with Python's hashlib.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tests/support/testing.hpp"
#include "workloads/sha256.hpp"

namespace {

using ssmsim::workloads::Sha256;
using ssmsim::workloads::sha256_hex;

TEST(Sha256, MatchesTheNistExampleVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(
      sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklm"
                 "nopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256, HashesAMillionRepetitionsOfTheLetterA) {
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Message lengths where the padding spills into a second block (55/56, 119/120) or fills a block
// exactly (64). Bytes are (7 i + 3) mod 256; reference digests from Python's hashlib.
TEST(Sha256, PadsCorrectlyAroundTheBlockBoundaries) {
  const std::vector<std::pair<size_t, std::string>> cases = {
      {55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"},
      {56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"},
      {63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"},
      {64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"},
      {65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"},
      {119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"},
      {120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"},
  };
  for (const auto& [n, want] : cases) {
    std::string msg(n, '\0');
    for (size_t i = 0; i < n; ++i) msg[i] = static_cast<char>((i * 7 + 3) & 255);
    EXPECT_EQ(sha256_hex(msg), want) << "length " << n;
  }
}

TEST(Sha256, GivesTheSameDigestWhateverTheChunkingAndResetsAfterADigest) {
  auto rng = ssmsim::testing::seeded_rng();
  std::string msg(5000, '\0');
  for (char& c : msg) c = static_cast<char>(rng() & 255);
  const std::string whole = sha256_hex(msg);
  Sha256 h;
  for (int round = 0; round < 20; ++round) {
    size_t pos = 0;
    while (pos < msg.size()) {
      const size_t take = std::min<size_t>(msg.size() - pos, rng() % 130);
      h.update(msg.data() + pos, take);
      pos += take;
    }
    EXPECT_EQ(Sha256::hex(h.digest()), whole) << "round " << round;  // digest() resets
  }
}

}  // namespace

namespace {

// The portable rounds and the SHA extensions (where this CPU has them) give the same digests: the
// NIST vectors on the portable path, then both paths on seeded random messages of every length
// around the block boundaries and on a long one fed in uneven pieces.
TEST(Sha256, TheSha_NiPathAndThePortablePathGiveTheSameDigests) {
  auto digest = [](Sha256::Path path, const std::string& msg, size_t piece) {
    Sha256 h(path);
    for (size_t pos = 0; pos < msg.size(); pos += piece) h.update(msg.data() + pos, std::min(piece, msg.size() - pos));
    return Sha256::hex(h.digest());
  };
  EXPECT_EQ(digest(Sha256::Path::Portable, "abc", 1),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest(Sha256::Path::Portable, std::string(1000000, 'a'), 4096),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  if (!Sha256::hardware_available()) GTEST_SKIP() << "this CPU has no SHA extensions: only the portable path runs";
  auto rng = ssmsim::testing::seeded_rng();
  for (size_t n = 0; n <= 300; ++n) {
    std::string msg(n, '\0');
    for (char& c : msg) c = static_cast<char>(rng() & 255);
    EXPECT_EQ(digest(Sha256::Path::Auto, msg, 1000), digest(Sha256::Path::Portable, msg, 1000)) << "length " << n;
  }
  std::string big(1 << 20, '\0');
  for (char& c : big) c = static_cast<char>(rng() & 255);
  EXPECT_EQ(digest(Sha256::Path::Auto, big, 777), digest(Sha256::Path::Portable, big, 4096));
}

}  // namespace
