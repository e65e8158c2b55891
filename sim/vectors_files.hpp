// The files of a vector folder as hostile input (docs/vectors.md, "Reading a folder back"): the
// manifest's fields read with their JSON type checked and the key named, the listed files confined
// to the folder and refused unless regular, RTL write-backs read as $readmemh reads them, and a
// folder published whole (written under a temporary name next to it, renamed at the end).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/vectors.hpp"
#include "ssm_core/qmodel.hpp"

namespace ssmsim::sim::vecio {

// Typed access to the manifest: every getter throws InputError naming the manifest file, the key
// (as "files[3].width") and what is allowed when the key is absent or of another JSON type.
class Manifest {
 public:
  explicit Manifest(const std::filesystem::path& dir);  // reads dir/manifest.json (a regular file)
  const nlohmann::json& json() const { return j_; }
  const std::filesystem::path& path() const { return path_; }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;
  const nlohmann::json& at(const nlohmann::json& obj, const std::string& key, const std::string& where) const;
  std::string str(const nlohmann::json& obj, const std::string& key, const std::string& where) const;
  uint64_t as_uint(const nlohmann::json& v, const std::string& key) const;  // v itself, named `key`
  uint64_t uint(const nlohmann::json& obj, const std::string& key, const std::string& where) const;
  int64_t sint(const nlohmann::json& obj, const std::string& key, const std::string& where) const;
  bool boolean(const nlohmann::json& obj, const std::string& key, const std::string& where) const;
  const nlohmann::json& array(const nlohmann::json& obj, const std::string& key, const std::string& where) const;
  const nlohmann::json& object(const nlohmann::json& obj, const std::string& key, const std::string& where) const;

 private:
  std::filesystem::path path_;
  nlohmann::json j_;
};

// The largest manifest read (a generated one is a few hundred KiB).
constexpr uint64_t kMaxManifestBytes = 64ull << 20;

// Opens `name` of the folder `dir` for reading: a plain file name (no folder part, not `..`), a
// regular file (not a FIFO or a device, which could block or never end), inside the folder after
// symbolic links are followed. `what` starts the error message.
std::ifstream open_listed(const std::filesystem::path& dir, const std::string& name, const std::string& what);

// Reads a $readmemh file as Verilog reads it: hex words separated by white space (LF or CRLF line
// ends), upper- or lower-case digits and `_` separators, `//` and `/* */` comments, and `@addr`
// lines that set the next word's address (hex, in words). Calls `word(address, digits)` for each
// word, its digits lower-case without `_` and leading zeros ("0" for zero); `bad(token, line)` for
// a token that is not a hex word (which ends the read). Returns the number of words read.
struct MemhCallbacks {
  std::function<bool(uint64_t address, const std::string& digits, size_t line)> word;  // false: stop
  std::function<void(const std::string& token, size_t line)> bad;
};
void read_memh(std::istream& in, const MemhCallbacks& cb);

// The value of a word's digits (from read_memh) as a `width`-bit code, sign-extended if `is_signed`;
// false if it does not fit the width.
bool word_value(const std::string& digits, int width, bool is_signed, int64_t* value);

// A folder written whole: the constructor makes an empty temporary folder next to `dest`
// (".<name>.tmp-XXXXXX"); publish() replaces `dest` with it (a previous `dest` is removed only after
// the new one is in place); the destructor removes the temporary folder if publish() was not
// reached, so a failure leaves `dest` as it was.
class StagedFolder {
 public:
  explicit StagedFolder(const std::filesystem::path& dest);
  ~StagedFolder();
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;
  const std::filesystem::path& path() const { return tmp_; }
  void publish();

 private:
  std::filesystem::path dest_, tmp_;
  bool done_ = false;
};

// The keys of the model's description `d` in the entry `f` at `where`: a missing key or a value of
// another JSON type exits 2 naming the key; another value is a mismatch.
CheckResult compare_keys(const Manifest& mf, const nlohmann::json& f, const std::string& where, const nlohmann::json& d);
// compare_keys, then the entry's count and shape against the n values the C-model gives for it
// over `steps` steps (`cols`: the columns of a constant file, else 0).
CheckResult check_description(const Manifest& mf, const nlohmann::json& f, const std::string& where,
                              const nlohmann::json& d, size_t n, size_t steps, size_t cols);
// The manifest's model section (H, L, classes, layers, layer type) against the model and L steps.
CheckResult check_model_section(const Manifest& mf, const core::QModel& m, size_t L);
// The words of a memory image as read_memh gives them.
std::vector<std::string> memh_words(const std::string& text);

}  // namespace ssmsim::sim::vecio
