// MNIST as sequences: the IDX file reader, the verified data cache, and the sMNIST / psMNIST
// workloads (docs/workloads.md).
//
// Verification policy: every read checks that the file exists, its header (magic number and
// dimensions) and that its size matches the header exactly; the SHA-256 of the whole file is
// checked on the first read of that file in the process (keyed by canonical path, size and
// modification time), so a sweep that loads the data set many times pays for hashing once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "workloads/dataset.hpp"

namespace ssmsim::workloads {

// ---------------------------------------------------------------------------------------------
// IDX files (the format MNIST ships in): a big-endian header -- magic 0x00 0x00 0x08 ndims
// (0x08 = unsigned bytes), then ndims uint32 sizes -- followed by prod(sizes) bytes.

inline constexpr uint32_t kIdxMagicVector = 0x00000801;  // labels: [n]
inline constexpr uint32_t kIdxMagicImages = 0x00000803;  // images: [n, rows, cols]

struct IdxExpect {
  uint32_t magic = kIdxMagicImages;
  std::vector<uint32_t> dims;  // empty: any sizes
  std::string sha256;          // lower-case hex; empty: not checked
};

// The whole file, header included (so that it can be hashed without a copy).
struct IdxArray {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> bytes;
  size_t header_size = 0;

  const uint8_t* data() const { return bytes.data() + header_size; }
  size_t size() const { return bytes.size() - header_size; }
};

// Reads and checks an IDX file of unsigned bytes. Throws InputError whose message names the file
// and the one thing wrong -- missing, not a regular file, unreadable, truncated (header or data),
// trailing bytes, bad magic, wrong dimensions, checksum mismatch -- followed by `fix` when given
// (for MNIST: the command that re-fetches the data).
IdxArray read_idx(const std::filesystem::path& file, const IdxExpect& expect,
                  const std::string& fix = "");

// ---------------------------------------------------------------------------------------------
// The MNIST cache.

struct MnistFileSpec {
  std::string name;  // file name in the cache folder, e.g. "train-images-idx3-ubyte"
  IdxExpect expect;  // magic, dimensions and SHA-256 of the official file
};

// The four official files; their SHA-256 sums are also in workloads/mnist.sha256, which
// scripts/fetch_data.sh checks (a unit test keeps the two lists equal).
const std::vector<MnistFileSpec>& mnist_files();

// The folder that holds the four files: `data_dir` if given, else $SSMSIM_DATA if set, else
// <repo>/data/mnist (the cache `make data` fills). When the chosen folder lacks the files but has
// a `mnist/` subfolder that holds them, that subfolder is used.
std::filesystem::path mnist_dir(const std::string& data_dir = "");

// Whether all four files exist in mnist_dir(data_dir) (existence only; loading verifies them).
bool mnist_present(const std::string& data_dir = "");

// What to run to (re)fetch the data into mnist_dir(data_dir): "run `make data`", with
// SSMSIM_DATA=<dir> in front when the folder is not the default one.
std::string mnist_fix_hint(const std::string& data_dir = "");

// ---------------------------------------------------------------------------------------------
// sMNIST and psMNIST.

inline constexpr size_t kMnistSteps = 784;    // 28 x 28 pixels, one per step
inline constexpr size_t kMnistTrain = 55000;  // first 55000 of the official training set
inline constexpr size_t kMnistVal = 5000;     // last 5000 of the official training set
inline constexpr size_t kMnistWideVal = 10000;  // data.val_size's most: the last 10,000 (the S4D
                                                // paper code's 50,000/10,000 split)
inline constexpr size_t kMnistTest = 10000;   // the official test set
inline constexpr size_t kMnistClasses = 10;

// The psMNIST permutation is drawn once from this fixed seed (ASCII "psMNIST"), independent of
// WorkloadOptions::seed, so that psMNIST is the same task for every run and every user.
inline constexpr uint64_t kPsmnistSeed = 0x0070734D4E495354ull;

// perm[t] = the raster-order pixel index presented at step t: a permutation of 0..783, drawn by
// Fisher-Yates from Rng(kPsmnistSeed) (workloads/rng.hpp).
const std::vector<uint32_t>& psmnist_permutation();

// The sMNIST (permuted = false) or psMNIST workload. Step t of sequence i holds pixel/255 as a
// float in [0, 1] (d_input = 1). options.train_size, when non-zero, keeps only the first
// train_size training sequences (at most 55000); val and test are always complete.
Workload load_mnist(bool permuted, const WorkloadOptions& options = {});

}  // namespace ssmsim::workloads
