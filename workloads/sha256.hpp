// SHA-256 (FIPS 180-4), used to verify the MNIST files on load. Written here rather than taken
// from a crypto library so that the project needs no further dependency; checked against the
// NIST test vectors in tests/unit/test_sha256.cpp. On x86-64 CPUs with the SHA extensions (SHA-NI)
// the compression runs on them (chosen at run time; the portable build needs no flag), several
// times faster; both paths give the same digests (tested).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ssmsim::workloads {

// Incremental hashing: update() any number of times, then digest() once. digest() leaves the
// object reset, ready for a new message.
class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;

  // Auto: the SHA extensions where the CPU has them; Portable: the plain C++ rounds.
  enum class Path { Auto, Portable };
  explicit Sha256(Path path = Path::Auto);
  // Whether this CPU runs Path::Auto on the SHA extensions.
  static bool hardware_available();
  void reset();
  void update(const void* data, size_t n);
  Digest digest();

  // Lower-case hexadecimal, 64 characters (the form sha256sum prints).
  static std::string hex(const Digest& d);

 private:
  void compress(const uint8_t* blocks, size_t count);  // count 64-byte blocks

  std::array<uint32_t, 8> h_{};
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
  bool hardware_ = false;
};

// One-shot helpers: the lower-case hex digest of a buffer.
std::string sha256_hex(const void* data, size_t n);
std::string sha256_hex(std::string_view bytes);

}  // namespace ssmsim::workloads
