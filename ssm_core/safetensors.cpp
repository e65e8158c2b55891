#include "ssm_core/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "quant/staged_file.hpp"

namespace ssmsim::core {
namespace {

using nlohmann::json;

struct DTypeInfo {
  DType dtype;
  const char* name;
  std::size_t size;
  // Position in the reference implementation's Dtype enum ("increasing alignment order"); its
  // writer lays tensors out by descending rank, then by name, and so does ours.
  int reference_rank;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 4, 11}, {DType::F64, "F64", 8, 12}, {DType::I8, "I8", 1, 2},
    {DType::I16, "I16", 2, 5},  {DType::I32, "I32", 4, 9},  {DType::I64, "I64", 8, 13},
    {DType::U8, "U8", 1, 1},
};

// Safetensors dtypes outside ssmsim's subset: named as such rather than as "unknown".
constexpr const char* kOtherSafetensorsDTypes[] = {
    "BOOL", "F4",   "F6_E2M3", "F6_E3M2", "F8_E4M3", "F8_E5M2", "F8_E8M0",
    "F16",  "BF16", "U16",     "U32",     "U64",     "C64"};

const DTypeInfo& info(DType dtype) {
  for (const auto& i : kDTypes)
    if (i.dtype == dtype) return i;
  throw InputError("invalid DType value " + std::to_string(static_cast<int>(dtype)));
}

bool try_parse_dtype(const std::string& name, DType& out) {
  for (const auto& i : kDTypes)
    if (name == i.name) {
      out = i.dtype;
      return true;
    }
  return false;
}

std::string supported_dtypes() {
  std::string s;
  for (const auto& i : kDTypes) s += (s.empty() ? "" : ", ") + std::string(i.name);
  return s;
}

// Why `name` is not a dtype ssmsim reads.
std::string dtype_problem(const std::string& name) {
  for (const char* other : kOtherSafetensorsDTypes)
    if (name == other)
      return "dtype '" + name + "' is a safetensors dtype that ssmsim does not read (supported: " +
             supported_dtypes() + ")";
  return "unknown dtype '" + name + "' (supported: " + supported_dtypes() + ")";
}

std::string u64s(std::uint64_t v) { return std::to_string(v); }

// data_offsets as the header spells them.
std::string range_string(std::uint64_t begin, std::uint64_t end) {
  return "[" + u64s(begin) + ", " + u64s(end) + "]";
}

// A span of bytes, end exclusive.
std::string span_string(std::uint64_t begin, std::uint64_t end) {
  return "[" + u64s(begin) + ", " + u64s(end) + ")";
}

// a * b, or false on overflow.
bool mul_u64(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

const char* json_type(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a non-integer number";
    default:
      return "an unsupported JSON value";
  }
}

// A JSON value read as a non-negative integer; false (with `why`) otherwise.
bool as_index(const json& j, std::uint64_t& out, std::string& why) {
  if (j.is_number_unsigned()) {
    out = j.get<std::uint64_t>();
    return true;
  }
  if (j.is_number_integer()) {
    why = "is negative (" + j.dump() + ")";
    return false;
  }
  if (j.is_number_float()) {
    why = "is not an integer (" + j.dump() + ")";
    return false;
  }
  why = std::string("is ") + json_type(j) + ", not an integer";
  return false;
}

// Thrown from inside the JSON parser's callback; turned into an InputError by the caller.
struct HeaderProblem {
  std::string what;
};

constexpr int kMaxHeaderDepth = 16;  // a valid header nests 3 levels

// Parses the header JSON, rejecting duplicate keys and absurd nesting as it goes.
json parse_header_json(const char* begin, const char* end, std::uint64_t header_len) {
  std::vector<std::set<std::string>> keys;  // keys seen, per open object
  std::vector<std::string> path;            // the key that leads to each open level
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxHeaderDepth)
      throw HeaderProblem{"header nests JSON " + std::to_string(depth + 1) +
                          " levels deep (more than " + std::to_string(kMaxHeaderDepth) +
                          "); a safetensors header nests 3"};
    if (event == json::parse_event_t::object_start) keys.emplace_back();
    if (event == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
    if (event == json::parse_event_t::key && !keys.empty() && depth >= 1) {
      const std::string key = parsed.get<std::string>();
      path.resize(static_cast<std::size_t>(depth));
      path.back() = key;
      if (!keys.back().insert(key).second) {
        if (depth == 1) throw HeaderProblem{"duplicate header key '" + key + "'"};
        std::string where;
        for (std::size_t i = 0; i + 1 < path.size(); ++i) where += (i ? "." : "") + path[i];
        throw HeaderProblem{"duplicate key '" + key + "' in the header entry '" + where + "'"};
      }
    }
    return true;
  };
  try {
    return json::parse(begin, end, callback);
  } catch (const json::parse_error& e) {
    std::string msg = e.what();
    const auto pos = msg.find("] ");
    if (pos != std::string::npos) msg = msg.substr(pos + 2);
    const std::uint64_t at = std::min<std::uint64_t>(e.byte == 0 ? 0 : e.byte - 1, header_len);
    throw HeaderProblem{"header is not valid JSON (at file byte offset " + u64s(8 + at) +
                        ", header byte " + u64s(at) + "): " + msg};
  } catch (const json::out_of_range& e) {  // a number beyond a double (`1E504`); nlohmann gives no offset
    std::string msg = e.what();
    const auto pos = msg.find("] ");
    if (pos != std::string::npos) msg = msg.substr(pos + 2);
    throw HeaderProblem{"header holds a number out of range: " + msg};
  }
}

// One tensor's header entry, validated on its own.
struct Entry {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin, end;
};

Entry parse_entry(const std::string& name, const json& j, std::uint64_t data_size,
                  std::uint64_t data_start) {
  const std::string who = "tensor '" + name + "'";
  if (!j.is_object())
    throw HeaderProblem{who + ": its header entry is " + json_type(j) +
                        ", not an object with dtype, shape and data_offsets"};
  for (const auto& [key, value] : j.items()) {
    (void)value;
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      throw HeaderProblem{who + ": unknown key '" + key +
                          "' in its header entry (allowed: dtype, shape, data_offsets)"};
  }
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!j.contains(key)) throw HeaderProblem{who + ": header entry has no '" + key + "'"};

  Entry e;
  e.name = name;
  const json& dt = j.at("dtype");
  if (!dt.is_string())
    throw HeaderProblem{who + ": 'dtype' is " + json_type(dt) + ", not a string"};
  if (!try_parse_dtype(dt.get<std::string>(), e.dtype))
    throw HeaderProblem{who + ": " + dtype_problem(dt.get<std::string>())};

  const json& sh = j.at("shape");
  if (!sh.is_array())
    throw HeaderProblem{who + ": 'shape' is " + json_type(sh) + ", not an array of integers"};
  std::uint64_t numel = 1;
  bool numel_overflow = false;
  for (std::size_t i = 0; i < sh.size(); ++i) {
    std::uint64_t dim = 0;
    std::string why;
    if (!as_index(sh[i], dim, why))
      throw HeaderProblem{who + ": shape dim " + std::to_string(i) + " " + why +
                          "; dims must be non-negative integers"};
    if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      throw HeaderProblem{who + ": shape dim " + std::to_string(i) + " = " + u64s(dim) +
                          " exceeds 2^63 - 1"};
    e.shape.push_back(static_cast<std::int64_t>(dim));
    if (!mul_u64(numel, dim, numel)) numel_overflow = true;
  }
  const bool has_zero = std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end();
  std::uint64_t nbytes = 0;
  if (has_zero) {
    numel = 0;
  } else if (numel_overflow || !mul_u64(numel, dtype_size(e.dtype), nbytes)) {
    throw HeaderProblem{who + ": shape " + shape_string(e.shape) + " with dtype " +
                        dtype_name(e.dtype) + " overflows 64 bits (element or byte count)"};
  }

  const json& off = j.at("data_offsets");
  if (!off.is_array() || off.size() != 2)
    throw HeaderProblem{who + ": 'data_offsets' is " +
                        (off.is_array() ? "an array of " + std::to_string(off.size()) + " values"
                                        : std::string(json_type(off))) +
                        ", not [begin, end]"};
  std::string why;
  if (!as_index(off[0], e.begin, why)) throw HeaderProblem{who + ": data_offsets begin " + why};
  if (!as_index(off[1], e.end, why)) throw HeaderProblem{who + ": data_offsets end " + why};
  const std::string offs = "data_offsets " + range_string(e.begin, e.end);
  if (e.end < e.begin) throw HeaderProblem{who + ": " + offs + " are reversed (end before begin)"};
  if (e.end > data_size)
    throw HeaderProblem{who + ": " + offs + " run past the end of the data section, which holds " +
                        u64s(data_size) + " bytes (file bytes " +
                        span_string(data_start, data_start + data_size) + ")"};
  if (e.end - e.begin != nbytes)
    throw HeaderProblem{who + ": " + offs + " hold " + u64s(e.end - e.begin) + " bytes but dtype " +
                        dtype_name(e.dtype) + " and shape " + shape_string(e.shape) + " need " +
                        u64s(nbytes)};
  return e;
}

std::string quoted_json(const std::string& s, const std::string& what) {
  try {
    return json(s).dump();
  } catch (const json::type_error&) {
    throw InputError(what + " is not valid UTF-8");
  }
}

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

// ---- dtypes -------------------------------------------------------------------------------------

const std::vector<DType>& all_dtypes() {
  static const std::vector<DType> all = [] {
    std::vector<DType> v;
    for (const auto& i : kDTypes) v.push_back(i.dtype);
    return v;
  }();
  return all;
}

const char* dtype_name(DType dtype) { return info(dtype).name; }

std::size_t dtype_size(DType dtype) { return info(dtype).size; }

DType parse_dtype(const std::string& name) {
  DType d{};
  if (!try_parse_dtype(name, d)) throw InputError(dtype_problem(name));
  return d;
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// ---- Tensor -------------------------------------------------------------------------------------

namespace detail {

std::size_t checked_numel(const std::vector<std::int64_t>& shape) {
  std::uint64_t n = 1;
  bool overflow = false;
  for (std::int64_t d : shape) {
    if (d < 0) throw InputError("shape " + shape_string(shape) + " has a negative dim");
    if (!mul_u64(n, static_cast<std::uint64_t>(d), n)) overflow = true;
  }
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  if (overflow || n > std::numeric_limits<std::size_t>::max())
    throw InputError("shape " + shape_string(shape) + " has more elements than 2^64 - 1");
  return static_cast<std::size_t>(n);
}

void check_as(const Tensor& t, DType want) {
  if (t.dtype != want)
    throw InputError(std::string("tensor of dtype ") + dtype_name(t.dtype) + " read as " +
                     dtype_name(want) + " (no conversion is done)");
  const std::size_t n = checked_numel(t.shape);
  if (t.bytes.size() / dtype_size(want) != n || t.bytes.size() % dtype_size(want) != 0)
    throw InputError("tensor of dtype " + std::string(dtype_name(want)) + " and shape " +
                     shape_string(t.shape) + " holds " + std::to_string(t.bytes.size()) +
                     " bytes, not " + std::to_string(n) + " x " + std::to_string(dtype_size(want)));
}

}  // namespace detail

std::size_t Tensor::numel() const { return detail::checked_numel(shape); }

// ---- SafeTensors --------------------------------------------------------------------------------

namespace {
std::string in_source(const std::string& source) {
  return source.empty() ? std::string(" (in memory)") : " in " + source;
}

template <typename Map>
std::string list_keys(const Map& m, const char* noun) {
  if (m.empty()) return "it holds no " + std::string(noun);
  std::string s = "it holds " + std::to_string(m.size()) + " " + noun + ": ";
  std::size_t i = 0;
  for (const auto& kv : m) {
    if (i == 20) return s + ", ... (" + std::to_string(m.size() - 20) + " more)";
    s += (i++ ? ", " : "") + kv.first;
  }
  return s;
}
}  // namespace

const Tensor& SafeTensors::get(const std::string& name) const {
  const auto it = tensors.find(name);
  if (it == tensors.end())
    throw InputError("tensor '" + name + "' not found" + in_source(source) + "; " +
                     list_keys(tensors, "tensors"));
  return it->second;
}

const Tensor& SafeTensors::get(const std::string& name, DType dtype,
                               const std::vector<std::int64_t>& shape) const {
  const Tensor& t = get(name);
  if (t.dtype != dtype)
    throw InputError("tensor '" + name + "'" + in_source(source) + " has dtype " +
                     dtype_name(t.dtype) + " but " + dtype_name(dtype) + " was expected");
  bool match = t.shape.size() == shape.size();
  for (std::size_t i = 0; match && i < shape.size(); ++i)
    match = shape[i] == -1 || shape[i] == t.shape[i];
  if (!match) {
    std::string want = "[";
    for (std::size_t i = 0; i < shape.size(); ++i)
      want += (i ? ", " : "") + (shape[i] == -1 ? std::string("*") : std::to_string(shape[i]));
    throw InputError("tensor '" + name + "'" + in_source(source) + " has shape " +
                     shape_string(t.shape) + " but " + want + "] was expected");
  }
  return t;
}

const std::string& SafeTensors::meta(const std::string& key) const {
  const auto it = metadata.find(key);
  if (it == metadata.end())
    throw InputError("metadata key '" + key + "' not found" + in_source(source) + "; " +
                     list_keys(metadata, "metadata keys"));
  return it->second;
}

// ---- reading ------------------------------------------------------------------------------------

SafeTensors parse_safetensors(const std::uint8_t* data, std::size_t size,
                              const std::string& source_name) {
  const std::string src = source_name.empty() ? std::string("<memory>") : source_name;
  auto fail = [&](const std::string& why) -> InputError { return InputError(src + ": " + why); };

  if (data == nullptr && size != 0) throw fail("no data");
  if (size < 8)
    throw fail("file is " + std::to_string(size) +
               " bytes, shorter than the 8-byte header length that starts a safetensors file");
  std::uint64_t header_len = 0;
  for (int b = 7; b >= 0; --b) header_len = (header_len << 8) | data[b];
  const std::uint64_t after = size - 8;
  if (header_len > kMaxSafetensorsHeaderBytes)
    throw fail("header length " + u64s(header_len) + " (file bytes 0 to 7) exceeds the " +
               u64s(kMaxSafetensorsHeaderBytes) + "-byte limit; not a safetensors file?");
  if (header_len > after)
    throw fail("header length " + u64s(header_len) + " (file bytes 0 to 7) is larger than the " +
               u64s(after) + " bytes that follow it; the file is truncated or not safetensors");

  const std::uint64_t data_start = 8 + header_len;
  const std::uint64_t data_size = size - data_start;
  const char* header = reinterpret_cast<const char*>(data) + 8;

  SafeTensors st;
  st.source = source_name;
  std::vector<Entry> entries;
  // nlohmann's lexer ends the input at a NUL byte and skips a byte-order mark; JSON (and the
  // reference reader) allow neither, so both are refused here rather than silently accepted.
  if (const void* nul = std::memchr(header, 0, header_len)) {
    const auto at = static_cast<std::uint64_t>(static_cast<const char*>(nul) - header);
    throw fail("header contains a NUL byte at file byte offset " + u64s(8 + at) + " (header byte " +
               u64s(at) + "); pad a header with spaces");
  }
  if (header_len >= 3 && std::memcmp(header, "\xEF\xBB\xBF", 3) == 0)
    throw fail("header starts with a UTF-8 byte-order mark (file bytes 8 to 10); JSON has none");
  try {
    const json root = parse_header_json(header, header + header_len, header_len);
    if (!root.is_object())
      throw HeaderProblem{std::string("header JSON is ") + json_type(root) + ", not an object"};
    for (const auto& [key, value] : root.items()) {
      if (key == "__metadata__") {
        if (value.is_null()) continue;  // the reference reader accepts null as "no metadata"
        if (!value.is_object())
          throw HeaderProblem{std::string("'__metadata__' is ") + json_type(value) +
                              ", not an object of strings"};
        for (const auto& [mkey, mvalue] : value.items()) {
          if (!mvalue.is_string())
            throw HeaderProblem{"'__metadata__' key '" + mkey + "' is " + json_type(mvalue) +
                                "; metadata values must be strings"};
          st.metadata.emplace(mkey, mvalue.get<std::string>());
        }
        continue;
      }
      entries.push_back(parse_entry(key, value, data_size, data_start));
    }
  } catch (const HeaderProblem& p) {
    throw fail(p.what);
  }

  // The reference rules: in offset order, each tensor starts where the previous one ended, the
  // first at 0, the last ends at the end of the file.
  std::vector<const Entry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
  });
  std::uint64_t cursor = 0;
  const Entry* last = nullptr;
  for (const Entry* e : order) {
    if (e->begin < cursor)
      throw fail("tensor '" + e->name + "': data_offsets " + range_string(e->begin, e->end) +
                 " overlap tensor '" + last->name + "' at " + range_string(last->begin, last->end));
    if (e->begin > cursor)
      throw fail("data section bytes " + span_string(cursor, e->begin) + " (file bytes " +
                 span_string(data_start + cursor, data_start + e->begin) +
                 ") belong to no tensor: a gap before tensor '" + e->name + "' at " +
                 range_string(e->begin, e->end));
    if (e->end > cursor || last == nullptr) {
      cursor = e->end;
      last = e;
    }
  }
  if (cursor != data_size)
    throw fail("the data section holds " + u64s(data_size) + " bytes (file bytes " +
               span_string(data_start, data_start + data_size) + ") but the tensors cover only " +
               u64s(cursor) + "; trailing bytes " + span_string(cursor, data_size) +
               " belong to no tensor");

  for (const auto& e : entries) {
    Tensor t;
    t.dtype = e.dtype;
    t.shape = e.shape;
    const std::uint8_t* p = data + data_start + e.begin;
    t.bytes.assign(p, p + (e.end - e.begin));
    st.tensors.emplace(e.name, std::move(t));
  }
  return st;
}

void require_regular_file(const std::filesystem::path& path, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  const std::string head = "cannot read " + what + " '" + path.string() + "': ";
  if (st.type() == fs::file_type::not_found) throw InputError(head + "No such file or directory");
  if (ec) throw InputError(head + ec.message());
  switch (st.type()) {
    case fs::file_type::regular: return;
    case fs::file_type::directory: throw InputError(head + "it is a folder, not a file");
    case fs::file_type::fifo: throw InputError(head + "it is a FIFO (named pipe), not a regular file");
    case fs::file_type::character:
    case fs::file_type::block: throw InputError(head + "it is a device, not a regular file");
    case fs::file_type::socket: throw InputError(head + "it is a socket, not a regular file");
    default: throw InputError(head + "not a regular file");
  }
}

SafeTensors read_safetensors(const std::filesystem::path& path) {
  const std::string p = path.string();
  require_regular_file(path, "safetensors file");
  // O_NONBLOCK: should the path have become a FIFO since the check, the open does not wait
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw InputError("cannot read safetensors file '" + p + "': " + errno_text(errno));
  std::vector<std::uint8_t> bytes;
  try {
    struct stat sb {};
    if (::fstat(fd, &sb) != 0)
      throw InputError("cannot read safetensors file '" + p + "': " + errno_text(errno));
    if (!S_ISREG(sb.st_mode))
      throw InputError("cannot read safetensors file '" + p + "': not a regular file");
    const auto size = static_cast<std::uint64_t>(sb.st_size);
    if (size > kMaxSafetensorsFileBytes)
      throw InputError("safetensors file '" + p + "' is " + u64s(size) + " bytes, over the " +
                       u64s(kMaxSafetensorsFileBytes) + "-byte limit ssmsim reads (kMaxSafetensorsFileBytes)");
    // exactly the size fstat reported; a file that shrinks or grows meanwhile is refused
    bytes.resize(static_cast<std::size_t>(size));
    std::size_t done = 0;
    for (;;) {
      std::uint8_t extra = 0;
      const bool tail = done == bytes.size();
      const ssize_t n = tail ? ::read(fd, &extra, 1) : ::read(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw InputError("cannot read safetensors file '" + p + "': " + errno_text(errno));
      if (n == 0 && !tail)
        throw InputError("safetensors file '" + p + "' shrank while it was read (" + u64s(done) + " of " +
                         u64s(size) + " bytes)");
      if (n == 0) break;
      if (tail) throw InputError("safetensors file '" + p + "' grew while it was read (beyond " + u64s(size) + " bytes)");
      done += static_cast<std::size_t>(n);
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return parse_safetensors(bytes.data(), bytes.size(), p);
}

// ---- writing ------------------------------------------------------------------------------------

std::vector<std::uint8_t> serialize_safetensors(const SafeTensors& st) {
  struct Item {
    const std::string* name;
    const Tensor* tensor;
    int rank;
  };
  std::vector<Item> items;
  for (const auto& [name, t] : st.tensors) {
    const std::string who = "tensor '" + name + "'";
    if (name == "__metadata__") throw InputError(who + ": the name is reserved for metadata");
    std::size_t numel = 0;
    try {
      numel = t.numel();
    } catch (const InputError& e) {
      throw InputError(who + ": " + e.what());
    }
    std::uint64_t need = 0;
    if (!mul_u64(numel, dtype_size(t.dtype), need) || need != t.bytes.size())
      throw InputError(who + ": holds " + std::to_string(t.bytes.size()) + " bytes but dtype " +
                       dtype_name(t.dtype) + " and shape " + shape_string(t.shape) + " need " +
                       std::to_string(numel) + " x " + std::to_string(dtype_size(t.dtype)));
    items.push_back({&name, &t, info(t.dtype).reference_rank});
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.rank > b.rank;
  });  // names stay sorted

  std::string header = "{";
  if (!st.metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : st.metadata) {
      header += (first ? "" : ",") + quoted_json(key, "metadata key '" + key + "'") + ":" +
                quoted_json(value, "metadata value of key '" + key + "'");
      first = false;
    }
    header += "}";
  }
  std::uint64_t offset = 0;
  for (const Item& it : items) {
    if (header.size() > 1) header += ",";
    header += quoted_json(*it.name, "tensor name '" + *it.name + "'") + ":{\"dtype\":\"" +
              dtype_name(it.tensor->dtype) + "\",\"shape\":[";
    for (std::size_t i = 0; i < it.tensor->shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(it.tensor->shape[i]);
    const std::uint64_t end = offset + it.tensor->bytes.size();
    header += "],\"data_offsets\":[" + u64s(offset) + "," + u64s(end) + "]}";
    offset = end;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  if (header.size() > kMaxSafetensorsHeaderBytes)
    throw InputError("header would be " + std::to_string(header.size()) + " bytes, over the " +
                     u64s(kMaxSafetensorsHeaderBytes) + "-byte limit readers accept");

  std::vector<std::uint8_t> out;
  out.reserve(8 + header.size() + offset);
  const std::uint64_t n = header.size();
  for (int b = 0; b < 8; ++b) out.push_back(static_cast<std::uint8_t>(n >> (8 * b)));
  out.insert(out.end(), header.begin(), header.end());
  for (const Item& it : items)
    out.insert(out.end(), it.tensor->bytes.begin(), it.tensor->bytes.end());
  return out;
}

void write_safetensors(const std::filesystem::path& path, const SafeTensors& st) {
  const std::string p = path.string();
  const std::string prefix = "cannot write safetensors file '" + p + "': ";
  std::vector<std::uint8_t> bytes;
  try {
    bytes = serialize_safetensors(st);
  } catch (const InputError& e) {
    throw InputError(prefix + e.what());
  }
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                    "safetensors file");
}

}  // namespace ssmsim::core
