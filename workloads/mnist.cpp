#include "workloads/mnist.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <system_error>

#include "quant/errors.hpp"
#include "workloads/rng.hpp"
#include "workloads/sha256.hpp"

#ifndef SSMSIM_SOURCE_DIR
#error "SSMSIM_SOURCE_DIR (the repository root) must be defined by the build"
#endif

namespace ssmsim::workloads {

namespace fs = std::filesystem;

namespace {

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::string dims_text(const std::vector<uint32_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return dims.empty() ? "(no dimensions)" : s;
}

[[noreturn]] void fail(const fs::path& file, const std::string& what, const std::string& fix) {
  std::string msg = "IDX file '" + file.string() + "': " + what;
  if (!fix.empty()) msg += "; " + fix;
  throw InputError(msg);
}

uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Files whose SHA-256 has been verified in this process, keyed by what would change if the file
// were replaced: canonical path, size, modification time and the expected digest.
std::mutex g_verified_mutex;
std::set<std::string> g_verified;

std::string verify_key(const fs::path& file, size_t size, const std::string& sha) {
  std::error_code ec;
  const fs::path canon = fs::canonical(file, ec);
  const auto mtime = fs::last_write_time(file, ec);
  return (ec ? file.string() : canon.string()) + '\n' + std::to_string(size) + '\n' +
         std::to_string(ec ? 0 : mtime.time_since_epoch().count()) + '\n' + sha;
}

}  // namespace

IdxArray read_idx(const fs::path& file, const IdxExpect& expect, const std::string& fix) {
  std::error_code ec;
  const auto status = fs::status(file, ec);
  if (!fs::exists(status)) fail(file, "missing (no such file)", fix);
  if (!fs::is_regular_file(status)) fail(file, "not a regular file", fix);
  const uintmax_t file_size = fs::file_size(file, ec);
  if (ec) fail(file, "cannot be read: " + ec.message(), fix);

  // The header first (at most 4 + 4 * 255 bytes): the dimensions it promises are checked against
  // the file's size before the data is allocated, so a huge or lying file is refused, not read.
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(file, std::string("cannot be opened: ") + std::strerror(errno), fix);
  auto read_into = [&](uint8_t* dst, uintmax_t n, uintmax_t already) {
    in.read(reinterpret_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (static_cast<uintmax_t>(in.gcount()) != n)
      fail(file,
           "read error after " + std::to_string(already + static_cast<uintmax_t>(in.gcount())) + " of " +
               std::to_string(file_size) + " bytes",
           fix);
  };
  IdxArray arr;
  std::vector<uint8_t> head(static_cast<size_t>(std::min<uintmax_t>(file_size, 4 + 4 * 255)));
  read_into(head.data(), head.size(), 0);
  if (head.size() < 4)
    fail(file, "truncated: " + std::to_string(head.size()) + " bytes, shorter than the 4-byte magic",
         fix);
  const uint32_t magic = load_be32(head.data());
  if (magic != expect.magic) {
    const char* kind = expect.magic == kIdxMagicImages   ? " (unsigned bytes, 3 dimensions)"
                       : expect.magic == kIdxMagicVector ? " (unsigned bytes, 1 dimension)"
                                                         : "";
    fail(file, "bad magic number " + hex32(magic) + ", expected " + hex32(expect.magic) + kind,
         fix);
  }
  const size_t ndims = magic & 0xffu;
  arr.header_size = 4 + 4 * ndims;
  if (file_size < arr.header_size)
    fail(file,
         "truncated header: " + std::to_string(file_size) + " bytes, the header of " +
             std::to_string(ndims) + " dimensions needs " + std::to_string(arr.header_size),
         fix);
  uint64_t elements = 1;
  for (size_t i = 0; i < ndims; ++i) {
    arr.dims.push_back(load_be32(head.data() + 4 + 4 * i));
    elements *= arr.dims.back();  // at most 255 factors below 2^32 each: checked against the size
    if (elements > (uint64_t{1} << 40))
      fail(file, "implausible dimensions " + dims_text(arr.dims), fix);
  }
  if (!expect.dims.empty() && arr.dims != expect.dims)
    fail(file,
         "wrong dimensions: the header says " + dims_text(arr.dims) + ", expected " +
             dims_text(expect.dims),
         fix);
  const uint64_t payload = file_size - arr.header_size;
  if (payload < elements)
    fail(file,
         "truncated: the header (" + dims_text(arr.dims) + ") promises " +
             std::to_string(elements) + " data bytes, the file holds " + std::to_string(payload),
         fix);
  if (payload > elements)
    fail(file,
         "size mismatch: " + std::to_string(payload - elements) + " bytes beyond the " +
             std::to_string(elements) + " the header (" + dims_text(arr.dims) + ") promises",
         fix);
  arr.bytes.resize(static_cast<size_t>(file_size));  // header + exactly what the header promises
  std::copy(head.begin(), head.end(), arr.bytes.begin());
  read_into(arr.bytes.data() + head.size(), file_size - head.size(), head.size());
  const auto& b = arr.bytes;

  if (!expect.sha256.empty()) {
    const std::string key = verify_key(file, b.size(), expect.sha256);
    bool known = false;
    {
      const std::lock_guard<std::mutex> lock(g_verified_mutex);
      known = g_verified.count(key) > 0;
    }
    if (!known) {
      const std::string got = sha256_hex(b.data(), b.size());
      if (got != expect.sha256)
        fail(file,
             "checksum mismatch: SHA-256 " + got + ", expected " + expect.sha256 +
                 " (corrupt or not the official file)",
             fix);
      const std::lock_guard<std::mutex> lock(g_verified_mutex);
      g_verified.insert(key);
    }
  }
  return arr;
}

const std::vector<MnistFileSpec>& mnist_files() {
  static const std::vector<MnistFileSpec> files = {
      {"train-images-idx3-ubyte",
       {kIdxMagicImages,
        {60000, 28, 28},
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"}},
      {"train-labels-idx1-ubyte",
       {kIdxMagicVector,
        {60000},
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"}},
      {"t10k-images-idx3-ubyte",
       {kIdxMagicImages,
        {10000, 28, 28},
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"}},
      {"t10k-labels-idx1-ubyte",
       {kIdxMagicVector,
        {10000},
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"}},
  };
  return files;
}

namespace {

fs::path default_mnist_dir() {
  if (const char* env = std::getenv("SSMSIM_DATA"); env && *env) return fs::path(env);
  return fs::path(SSMSIM_SOURCE_DIR) / "data" / "mnist";
}

bool holds_all(const fs::path& dir) {
  std::error_code ec;
  for (const auto& f : mnist_files())
    if (!fs::exists(dir / f.name, ec)) return false;
  return true;
}

}  // namespace

fs::path mnist_dir(const std::string& data_dir) {
  const fs::path dir = data_dir.empty() ? default_mnist_dir() : fs::path(data_dir);
  if (!holds_all(dir) && holds_all(dir / "mnist")) return dir / "mnist";
  return dir;
}

bool mnist_present(const std::string& data_dir) { return holds_all(mnist_dir(data_dir)); }

std::string mnist_fix_hint(const std::string& data_dir) {
  const fs::path dir = mnist_dir(data_dir);
  const fs::path default_dir = fs::path(SSMSIM_SOURCE_DIR) / "data" / "mnist";
  std::error_code ec;
  const bool is_default = fs::weakly_canonical(dir, ec) == fs::weakly_canonical(default_dir, ec);
  if (is_default) return "run `make data` to download and verify the MNIST files";
  return "run `SSMSIM_DATA=" + dir.string() + " make data` to download and verify the MNIST files";
}

const std::vector<uint32_t>& psmnist_permutation() {
  static const std::vector<uint32_t> perm = [] {
    Rng rng(kPsmnistSeed);
    return random_permutation(static_cast<uint32_t>(kMnistSteps), rng);
  }();
  return perm;
}

namespace {

// Appends to `set` `count` sequences taken from image/label index `first` on. `perm` (or null
// for raster order) maps step t to the pixel it shows.
void fill_split(SequenceSet& set, const IdxArray& images, const IdxArray& labels, size_t first,
                size_t count, const uint32_t* perm) {
  std::array<float, 256> scale{};
  for (size_t v = 0; v < scale.size(); ++v) scale[v] = static_cast<float>(v) / 255.0f;
  const size_t at = set.n;
  set.n += count;
  set.length = kMnistSteps;
  set.d_input = 1;
  set.inputs.resize(set.n * kMnistSteps, 0.0f);
  set.labels.resize(set.n);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* px = images.data() + (first + i) * kMnistSteps;
    float* out = set.inputs.data() + (at + i) * kMnistSteps;
    if (perm) {
      for (size_t t = 0; t < kMnistSteps; ++t) out[t] = scale[px[perm[t]]];
    } else {
      for (size_t t = 0; t < kMnistSteps; ++t) out[t] = scale[px[t]];
    }
    set.labels[at + i] = labels.data()[first + i];
  }
}

void check_labels(const fs::path& file, const IdxArray& labels, const std::string& fix) {
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels.data()[i] >= kMnistClasses)
      fail(file,
           "label " + std::to_string(labels.data()[i]) + " at index " + std::to_string(i) +
               " is outside 0..9",
           fix);
}

}  // namespace

Workload load_mnist(bool permuted, const WorkloadOptions& options) {
  const std::string task = permuted ? "psmnist" : "smnist";
  if (options.val_size > kMnistWideVal)
    throw InputError("workload option val_size = " + std::to_string(options.val_size) + ": " + task + " has at most " +
                     std::to_string(kMnistWideVal) +
                     " validation sequences (0 = the 5,000 official ones; up to 10,000 takes the "
                     "end of the training set too, the split of the S4D paper's code)");
  if (options.train_size > kMnistTrain)
    throw InputError("workload option train_size = " + std::to_string(options.train_size) + ": " + task +
                     " has at most " + std::to_string(kMnistTrain) + " training sequences (0 = all)");
  const size_t n_train = options.train_size ? options.train_size : kMnistTrain;
  const size_t n_val = options.val_size ? options.val_size : kMnistVal;
  // Up to 5,000: the first N of the 5,000 validation sequences (images 55,000 on). More: all 5,000,
  // then the N - 5,000 images just before them (the last N of the training file, which the
  // training split must leave out), so every validation split begins with the smaller ones.
  const size_t val_first = n_val <= kMnistVal ? kMnistTrain : kMnistTrain + kMnistVal - n_val;
  const size_t n_official = std::min(n_val, kMnistVal);
  if (n_train > val_first)
    throw InputError("workload options train_size = " + std::to_string(n_train) +
                     " and val_size = " + std::to_string(n_val) + ": " + task +
                     "'s validation would take training images " + std::to_string(val_first) + ".." +
                     std::to_string(kMnistTrain - 1) + "; set data.train_size to at most " + std::to_string(val_first));
  const fs::path dir = mnist_dir(options.data_dir);
  const std::string fix = mnist_fix_hint(options.data_dir);
  const auto& spec = mnist_files();
  // Check that every file exists before reading any, so a missing cache fails at once.
  for (const auto& f : spec)
    if (!fs::exists(dir / f.name))
      throw InputError("MNIST file '" + (dir / f.name).string() + "' is missing; " + fix);

  Workload w;
  w.name = task;
  w.kind = TaskKind::Classification;
  w.num_classes = kMnistClasses;
  w.description =
      std::string(permuted ? "psMNIST: MNIST digits as 784-step pixel sequences in a fixed "
                             "permuted order (seed 0x0070734D4E495354)"
                           : "sMNIST: MNIST digits as 784-step pixel sequences in raster order") +
      ", 1 feature (pixel/255), 10 classes; train " + std::to_string(n_train) + " / val " + std::to_string(n_val) +
      " / test 10000 (training images 0.." + std::to_string(n_train - 1) + ", validation images " +
      std::to_string(kMnistTrain) + ".." + std::to_string(kMnistTrain + n_official - 1) +
      (n_val > kMnistVal ? " then " + std::to_string(val_first) + ".." + std::to_string(kMnistTrain - 1) : "") +
      " of the official training set; the official test set)";
  const uint32_t* perm = permuted ? psmnist_permutation().data() : nullptr;

  {
    const IdxArray labels = read_idx(dir / spec[1].name, spec[1].expect, fix);
    check_labels(dir / spec[1].name, labels, fix);
    const IdxArray images = read_idx(dir / spec[0].name, spec[0].expect, fix);
    fill_split(w.train, images, labels, 0, n_train, perm);
    fill_split(w.val, images, labels, kMnistTrain, n_official, perm);
    fill_split(w.val, images, labels, val_first, n_val - n_official, perm);
  }
  {
    const IdxArray labels = read_idx(dir / spec[3].name, spec[3].expect, fix);
    check_labels(dir / spec[3].name, labels, fix);
    const IdxArray images = read_idx(dir / spec[2].name, spec[2].expect, fix);
    fill_split(w.test, images, labels, 0, kMnistTest, perm);
  }
  return w;
}

}  // namespace ssmsim::workloads
