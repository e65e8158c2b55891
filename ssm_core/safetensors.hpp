// Safetensors (Hugging Face) reader and writer: float checkpoints and quantized models on disk.
//
// Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON (tensor name ->
// {"dtype", "shape", "data_offsets": [begin, end)} relative to the data section, plus an optional
// "__metadata__" object of strings), then the data section: little-endian, row-major, tensors
// contiguous, non-overlapping and covering it exactly (the reference implementation's rules).
//
// Reading checks everything and throws ssmsim::InputError naming the file, the key or byte offset
// and the reason; it never reads out of bounds. Writing is deterministic (tensors ordered as the
// reference writer orders them, header keys in a fixed order, header padded with spaces to a
// multiple of 8) and atomic (temporary file in the target's folder, then rename).
// docs/safetensors.md lists the subset and every error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "quant/errors.hpp"

namespace ssmsim::core {

// The element types ssmsim reads and writes (a subset of safetensors' dtypes).
enum class DType { F32, F64, I8, I16, I32, I64, U8 };

// Every supported dtype, in declaration order.
const std::vector<DType>& all_dtypes();

// The safetensors spelling: "F32", "I8", ...
const char* dtype_name(DType dtype);

// Bytes per element.
std::size_t dtype_size(DType dtype);

// The dtype spelled `name` (exactly, as safetensors writes it). Throws InputError naming the
// spelling and the supported ones; a safetensors dtype outside the subset (F16, BF16, BOOL, ...)
// is reported as such.
DType parse_dtype(const std::string& name);

// The dtype of a C++ element type: float, double, int8_t, int16_t, int32_t, int64_t, uint8_t.
template <typename T>
struct DTypeOf;
// clang-format off
template <> struct DTypeOf<float> { static constexpr DType value = DType::F32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::F64; };
template <> struct DTypeOf<std::int8_t> { static constexpr DType value = DType::I8; };
template <> struct DTypeOf<std::int16_t> { static constexpr DType value = DType::I16; };
template <> struct DTypeOf<std::int32_t> { static constexpr DType value = DType::I32; };
template <> struct DTypeOf<std::int64_t> { static constexpr DType value = DType::I64; };
template <> struct DTypeOf<std::uint8_t> { static constexpr DType value = DType::U8; };
// clang-format on

// "[16, 32]"; "[]" for a 0-d tensor.
std::string shape_string(const std::vector<std::int64_t>& shape);

// One tensor: its dtype, its shape (row-major; empty = 0-d scalar) and its raw little-endian bytes.
struct Tensor {
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;

  // Product of the dims (1 for a 0-d tensor, 0 if any dim is 0). Throws InputError on a negative
  // dim or an overflow.
  std::size_t numel() const;

  // The elements as T. Throws InputError unless T is exactly this tensor's dtype (no conversion)
  // and the byte count is numel() * dtype_size.
  template <typename T>
  std::vector<T> as() const;

  // A tensor of shape `shape` holding `values` (row-major). Throws InputError if the shape has a
  // negative dim or its element count differs from values.size().
  template <typename T>
  static Tensor from(std::vector<std::int64_t> shape, const std::vector<T>& values);

  bool operator==(const Tensor& o) const {
    return dtype == o.dtype && shape == o.shape && bytes == o.bytes;
  }
  bool operator!=(const Tensor& o) const { return !(*this == o); }
};

// A safetensors file in memory: named tensors and the "__metadata__" strings.
class SafeTensors {
 public:
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
  // Where this came from (a path or a caller's name), for error messages; "" when built in memory.
  std::string source;

  bool contains(const std::string& name) const { return tensors.count(name) != 0; }

  // The tensor `name`. Throws InputError naming the tensor, the source and the tensors there are.
  const Tensor& get(const std::string& name) const;

  // The tensor `name`, checked to have `dtype` and `shape`; a dim of -1 in `shape` matches any
  // size. Errors read "tensor 'C' in f.safetensors has shape [16, 32] but [16, 64] was expected".
  const Tensor& get(const std::string& name, DType dtype,
                    const std::vector<std::int64_t>& shape) const;

  // The metadata value for `key`. Throws InputError naming the key, the source and the keys there
  // are.
  const std::string& meta(const std::string& key) const;

  bool operator==(const SafeTensors& o) const {
    return tensors == o.tensors && metadata == o.metadata;  // `source` is not content
  }
  bool operator!=(const SafeTensors& o) const { return !(*this == o); }
};

// Larger headers are rejected as malformed (the reference implementation's limit).
constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Larger files are refused before anything is read or allocated: far above any model ssmsim makes
// or imports (a sparse or lying file of many GiB would otherwise be read whole first).
constexpr std::uint64_t kMaxSafetensorsFileBytes = std::uint64_t{4} << 30;

// The one check every model-file loader makes before opening `path`: it must exist and be a
// regular file (a FIFO would block the open, a device such as /dev/zero never ends, a folder has
// no bytes). Throws InputError "cannot read <what> '<path>': it is a FIFO" (folder, device,
// socket, missing ...).
void require_regular_file(const std::filesystem::path& path, const std::string& what);

// Reads and validates a file: a regular file (require_regular_file) of at most
// kMaxSafetensorsFileBytes. Throws InputError (unreadable or malformed file).
SafeTensors read_safetensors(const std::filesystem::path& path);

// Parses and validates `size` bytes at `data`; `source_name` names them in error messages and is
// stored in the result's `source`.
SafeTensors parse_safetensors(const std::uint8_t* data, std::size_t size,
                              const std::string& source_name);

// The exact bytes write_safetensors writes. Order: "__metadata__" first (keys sorted), then tensors
// by descending dtype rank as the reference writer sorts them (64-bit, then 32-bit, 16-bit and
// 8-bit types, so every tensor's data is aligned to its element size), ties by name; each entry as
// {"dtype","shape","data_offsets"}; compact JSON padded with spaces to a multiple of 8 bytes. For
// the same tensors and at most one metadata key this is byte-identical to Python's safetensors.
// Throws InputError if a tensor is inconsistent (bytes vs. shape and dtype, negative dim), a name
// is
// "__metadata__", or a name or metadata string is not valid UTF-8.
std::vector<std::uint8_t> serialize_safetensors(const SafeTensors& st);

// Writes serialize_safetensors(st) to `path` through a temporary file in the same folder and a
// rename: on any failure no file is left behind and an existing `path` is untouched. Throws
// InputError naming the path.
void write_safetensors(const std::filesystem::path& path, const SafeTensors& st);

// ----------------------------------------------------------------------------------------------
// Template definitions.

namespace detail {
// Checks dtype and byte count for as<T>(); throws InputError.
void check_as(const Tensor& t, DType want);
// Checks a shape for from<T>() and returns its element count; throws InputError.
std::size_t checked_numel(const std::vector<std::int64_t>& shape);

template <typename T>
using UnsignedOf = std::conditional_t<
    sizeof(T) == 1, std::uint8_t,
    std::conditional_t<sizeof(T) == 2, std::uint16_t,
                       std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>>;
}  // namespace detail

template <typename T>
std::vector<T> Tensor::as() const {
  static_assert(sizeof(DTypeOf<T>::value) > 0, "unsupported element type");
  detail::check_as(*this, DTypeOf<T>::value);
  using U = detail::UnsignedOf<T>;
  const std::size_t n = bytes.size() / sizeof(T);
  std::vector<T> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    U u = 0;
    for (std::size_t b = 0; b < sizeof(T); ++b)
      u = static_cast<U>(u | static_cast<U>(static_cast<U>(bytes[i * sizeof(T) + b]) << (8 * b)));
    std::memcpy(&out[i], &u, sizeof(T));
  }
  return out;
}

template <typename T>
Tensor Tensor::from(std::vector<std::int64_t> shape, const std::vector<T>& values) {
  static_assert(sizeof(DTypeOf<T>::value) > 0, "unsupported element type");
  const std::size_t n = detail::checked_numel(shape);
  if (n != values.size())
    throw InputError("Tensor::from: shape " + shape_string(shape) + " holds " + std::to_string(n) +
                     " elements but " + std::to_string(values.size()) + " values were given");
  using U = detail::UnsignedOf<T>;
  Tensor t;
  t.dtype = DTypeOf<T>::value;
  t.shape = std::move(shape);
  t.bytes.resize(n * sizeof(T));
  for (std::size_t i = 0; i < n; ++i) {
    U u = 0;
    std::memcpy(&u, &values[i], sizeof(T));
    for (std::size_t b = 0; b < sizeof(T); ++b)
      t.bytes[i * sizeof(T) + b] = static_cast<std::uint8_t>(u >> (8 * b));
  }
  return t;
}

}  // namespace ssmsim::core
