#include "sim/vectors_files.hpp"

#include <fmt/format.h>
#include <stdlib.h>

#include <cctype>
#include <sstream>
#include <cstring>
#include <system_error>

#include "quant/errors.hpp"
#include "quant/staged_file.hpp"
#include "sim/vectors.hpp"
#include "ssm_core/qmodel.hpp"

namespace ssmsim::sim::vecio {

namespace fs = std::filesystem;

namespace {

const char* type_name(const nlohmann::json& j) { return j.type_name(); }

std::string join(const std::string& where, const std::string& key) { return where.empty() ? key : where + "." + key; }

// A regular file (symbolic links followed), else InputError naming it and what it is.
void require_regular(const fs::path& p, const std::string& what) {
  std::error_code ec;
  const fs::file_status st = fs::status(p, ec);
  if (ec || !fs::exists(st)) throw InputError(what + ": " + p.string() + " does not exist");
  if (!fs::is_regular_file(st))
    throw InputError(what + ": " + p.string() + " is not a regular file (a folder, FIFO or device is refused)");
}

}  // namespace

Manifest::Manifest(const fs::path& dir) : path_(dir / "manifest.json") {
  std::error_code ec;
  if (!fs::exists(fs::status(path_, ec)))
    throw InputError("vectors --check: no " + path_.string() + " (make one with ssmsim vectors)");
  require_regular(path_, "vectors --check");
  if (fs::file_size(path_, ec) > kMaxManifestBytes)
    throw InputError(fmt::format("vectors --check: {} is larger than {} MiB; not an ssmsim vector manifest",
                                 path_.string(), kMaxManifestBytes >> 20));
  std::ifstream f(path_, std::ios::binary);
  if (!f) throw InputError("vectors --check: cannot read " + path_.string());
  try {
    j_ = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw InputError("vectors --check: " + path_.string() + " is not valid JSON: " + e.what());
  }
  if (!j_.is_object() || !j_.contains("format") || j_["format"] != "ssmsim.vectors")
    throw InputError("vectors --check: " + path_.string() + " is not an ssmsim vector manifest (no \"format\": \"ssmsim.vectors\")");
}

void Manifest::fail(const std::string& key, const std::string& what) const {
  throw InputError(fmt::format("vectors --check: {}: key '{}': {}", path_.string(), key, what));
}

const nlohmann::json& Manifest::at(const nlohmann::json& obj, const std::string& key, const std::string& where) const {
  if (!obj.is_object()) fail(where, std::string("expected an object, found ") + type_name(obj));
  const auto it = obj.find(key);
  if (it == obj.end()) fail(join(where, key), "missing");
  return *it;
}

std::string Manifest::str(const nlohmann::json& obj, const std::string& key, const std::string& where) const {
  const nlohmann::json& v = at(obj, key, where);
  if (!v.is_string()) fail(join(where, key), std::string("expected a string, found ") + type_name(v));
  return v.get<std::string>();
}

uint64_t Manifest::as_uint(const nlohmann::json& v, const std::string& key) const {
  if (!v.is_number_unsigned())
    fail(key, fmt::format("expected a non-negative integer, found {} {}", type_name(v), v.dump()));
  return v.get<uint64_t>();
}

uint64_t Manifest::uint(const nlohmann::json& obj, const std::string& key, const std::string& where) const {
  return as_uint(at(obj, key, where), join(where, key));
}

int64_t Manifest::sint(const nlohmann::json& obj, const std::string& key, const std::string& where) const {
  const nlohmann::json& v = at(obj, key, where);
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX))
    fail(join(where, key), fmt::format("expected an integer, found {} {}", type_name(v), v.dump()));
  return v.get<int64_t>();
}

bool Manifest::boolean(const nlohmann::json& obj, const std::string& key, const std::string& where) const {
  const nlohmann::json& v = at(obj, key, where);
  if (!v.is_boolean()) fail(join(where, key), std::string("expected true or false, found ") + type_name(v));
  return v.get<bool>();
}

const nlohmann::json& Manifest::array(const nlohmann::json& obj, const std::string& key, const std::string& where) const {
  const nlohmann::json& v = at(obj, key, where);
  if (!v.is_array()) fail(join(where, key), std::string("expected an array, found ") + type_name(v));
  return v;
}

const nlohmann::json& Manifest::object(const nlohmann::json& obj, const std::string& key, const std::string& where) const {
  const nlohmann::json& v = at(obj, key, where);
  if (!v.is_object()) fail(join(where, key), std::string("expected an object, found ") + type_name(v));
  return v;
}

std::ifstream open_listed(const fs::path& dir, const std::string& name, const std::string& what) {
  const fs::path p(name);
  if (name.empty() || p.has_parent_path() || p.is_absolute() || name == "." || name == ".." ||
      name.find('/') != std::string::npos || name.find('\0') != std::string::npos)
    throw InputError(what + ": '" + name + "' is not a file name inside the vectors folder " + dir.string() +
                     " (paths and '..' are refused)");
  const fs::path full = dir / p;
  require_regular(full, what);
  std::error_code ec;
  const fs::path real = fs::canonical(full, ec), real_dir = fs::canonical(dir, ec);
  if (ec || real.parent_path() != real_dir)
    throw InputError(what + ": " + full.string() + " leads outside the vectors folder (a symbolic link is refused)");
  std::ifstream in(full, std::ios::binary);
  if (!in) throw InputError(what + ": cannot read " + full.string());
  return in;
}

void read_memh(std::istream& in, const MemhCallbacks& cb) {
  uint64_t address = 0;
  size_t line = 1, token_line = 1;
  std::string tok;
  // a token ends at white space, a comment or the end; returns false to stop
  auto finish = [&]() -> bool {
    if (tok.empty()) return true;
    const bool is_addr = tok[0] == '@';
    std::string digits;
    bool ok = tok.size() > (is_addr ? 1u : 0u) && tok[is_addr ? 1 : 0] != '_';
    for (size_t i = is_addr ? 1 : 0; ok && i < tok.size(); ++i) {
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(tok[i])));
      if (c == '_') continue;
      if (!std::isxdigit(static_cast<unsigned char>(c))) ok = false;
      else if (!(digits.empty() && c == '0')) digits += c;
    }
    if (digits.empty()) digits = "0";
    if (!ok || digits.size() > 16) {  // 16 digits: a word address or a value of up to 64 bits
      if (!is_addr && ok) {  // a wide word (a memory image): its digits as they are
        if (!cb.word(address++, digits, token_line)) return false;
        tok.clear();
        return true;
      }
      cb.bad(tok, token_line);
      return false;
    }
    tok.clear();
    if (is_addr) {
      address = std::stoull(digits, nullptr, 16);
      return true;
    }
    return cb.word(address++, digits, token_line);
  };
  for (int c; (c = in.get()) != EOF;) {
    if (c == '/' && (in.peek() == '/' || in.peek() == '*')) {
      if (!finish()) return;
      if (in.get() == '/') {
        while ((c = in.get()) != EOF && c != '\n') {
        }
        if (c == '\n') ++line;
      } else {
        for (int prev = 0; (c = in.get()) != EOF; prev = c) {
          if (c == '\n') ++line;
          if (prev == '*' && c == '/') break;
        }
      }
      continue;
    }
    if (std::isspace(c)) {
      if (!finish()) return;
      if (c == '\n') ++line;
      continue;
    }
    if (tok.empty()) token_line = line;
    if (tok.size() > 4096) {  // no hex word is this long: a binary or hostile file
      cb.bad(tok.substr(0, 32) + "...", token_line);
      return;
    }
    tok += static_cast<char>(c);
  }
  finish();
}

bool word_value(const std::string& digits, int width, bool is_signed, int64_t* value) {
  if (width < 1 || width > 64 || digits.size() > static_cast<size_t>((width + 3) / 4)) return false;
  const uint64_t v = std::stoull(digits, nullptr, 16);
  if (width < 64 && (v >> width)) return false;
  if (!is_signed || width == 64) {
    *value = static_cast<int64_t>(v);
    return true;
  }
  const uint64_t sign = uint64_t{1} << (width - 1);
  *value = static_cast<int64_t>((v ^ sign) - sign);
  return true;
}

StagedFolder::StagedFolder(const fs::path& dest) : dest_(fs::absolute(dest).lexically_normal()) {
  if (!dest_.has_filename()) dest_ = dest_.parent_path();  // "d/" and "d/." name d
  if (dest_ == dest_.root_path()) throw InputError("vectors: --out-dir " + dest.string() + " is the root folder");
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dest_, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st))
      throw InputError("vectors: --out-dir " + dest_.string() + " exists and is not a folder");
    if (!fs::is_empty(dest_, ec) && !fs::exists(dest_ / "manifest.json"))
      throw InputError("vectors: --out-dir " + dest_.string() +
                       " is a folder that holds other files (no manifest.json); give a new or empty folder, or a "
                       "vectors folder to replace");
  }
  const fs::path parent = dest_.parent_path();
  fs::create_directories(parent, ec);
  if (ec) throw InputError("vectors: cannot make the folder " + parent.string() + ": " + ec.message());
  std::string tmpl = (parent / ("." + dest_.filename().string() + ".tmp-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data()))
    throw InputError("vectors: cannot make a temporary folder next to " + dest_.string() + ": " + std::strerror(errno));
  tmp_ = tmpl;
}

StagedFolder::~StagedFolder() {
  if (done_) return;
  std::error_code ec;
  fs::remove_all(tmp_, ec);
}

void StagedFolder::publish() {
  sync_folder(tmp_);  // whole on disk before it takes the name
  std::error_code ec;
  fs::path old;
  if (fs::exists(fs::symlink_status(dest_, ec))) {
    std::string tmpl = tmp_.string();
    tmpl.replace(tmpl.size() - 11, 4, ".old");  // ".tmp-XXXXXX" -> ".old-XXXXXX"
    old = tmpl;
    fs::rename(dest_, old, ec);
    if (ec) throw InputError("vectors: cannot replace " + dest_.string() + ": " + ec.message());
  }
  fs::rename(tmp_, dest_, ec);
  if (ec) {
    std::error_code ec2;
    if (!old.empty()) fs::rename(old, dest_, ec2);  // put the previous content back
    throw InputError("vectors: cannot move the vectors into " + dest_.string() + ": " + ec.message());
  }
  done_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

// Whether two JSON values are of one kind (numbers of any representation are one kind).
static bool same_kind(const nlohmann::json& a, const nlohmann::json& b) {
  return a.is_number() ? b.is_number() : a.type() == b.type();
}


// The keys of `d` in the entry `f`: a missing key or one of another JSON type exits 2 naming it, another value is
// a mismatch.
CheckResult compare_keys(const vecio::Manifest& mf, const nlohmann::json& f, const std::string& where,
                         const nlohmann::json& d) {
  CheckResult r;
  const std::string fname = f["file"], unit = f["unit"];
  for (auto it = d.begin(); it != d.end(); ++it) {
    const std::string key = where + "." + it.key();
    if (!f.contains(it.key())) mf.fail(key, "missing (the model's value: " + it.value().dump() + ")");
    const nlohmann::json& v = f[it.key()];
    if (v == it.value()) continue;
    if (!same_kind(v, it.value()))
      mf.fail(key, fmt::format("expected {} like the model's {}, found {} {}", it.value().type_name(),
                               it.value().dump(), v.type_name(), v.dump()));
    r.ok = false;
    r.first_mismatch = fmt::format("{} (unit {}): the manifest's {} {} differs from the model's {}", fname, unit,
                                   it.key(), v.dump(), it.value().dump());
    return r;
  }
  return r;
}

// A file entry against its description by the model (every key describe() writes) and against the
// count and shape of the values the C-model gives for it (n values over `steps` steps).
CheckResult check_description(const vecio::Manifest& mf, const nlohmann::json& f, const std::string& where,
                              const nlohmann::json& d, size_t n, size_t steps, size_t cols) {
  CheckResult r = compare_keys(mf, f, where, d);
  if (!r.ok) return r;
  const std::string fname = f["file"], unit = f["unit"];
  const std::string name = d["name"];
  nlohmann::json shape;
  if (cols) shape = {n / cols, cols};
  else if (name == "logits" || name == "pool") shape = {n};
  else if (name == "x_in" || name == "x_out" || name == "bu" || name == "xo" || name == "e_in" || name == "xe")
    shape = {steps, n / steps / 2, 2};
  else shape = {steps, n / steps};
  const nlohmann::json& got = mf.array(f, "shape", where);
  for (size_t k = 0; k < got.size(); ++k) mf.as_uint(got[k], fmt::format("{}.shape[{}]", where, k));
  if (f["count"] != n || got != shape) {
    r.ok = false;
    r.first_mismatch = fmt::format("{} (unit {}): the manifest's count {} and shape {} differ from the model's {} "
                                   "values, shape {}", fname, unit, f["count"].dump(), got.dump(), n, shape.dump());
  }
  return r;
}


// The manifest's model section against the model and the sequence (L steps).
CheckResult check_model_section(const vecio::Manifest& mf, const core::QModel& m, size_t L) {
  CheckResult r;
  const nlohmann::json& model = mf.object(mf.json(), "model", "");
  const core::ModelConfig& mc = m.config;
  const std::pair<const char*, uint64_t> fields[] = {{"H", mc.H}, {"L", L}, {"classes", mc.d_output}, {"layers", mc.n_layers}};
  for (const auto& [key, want] : fields) {
    const uint64_t got = mf.uint(model, key, "model");
    if (got != want) {
      r.ok = false;
      r.first_mismatch = fmt::format("{}: model.{} is {}, the model's is {}", mf.path().string(), key, got, want);
      return r;
    }
  }
  const std::string layer = mf.str(model, "layer", "model"), want = mc.layer == core::LayerType::S5 ? "s5" : "s4d";
  if (layer != want) {
    r.ok = false;
    r.first_mismatch = fmt::format("{}: model.layer is '{}', the model's is '{}'", mf.path().string(), layer, want);
  }
  return r;
}


// The words of a memory image written by write_hex, as read_memh gives them.
std::vector<std::string> memh_words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  vecio::read_memh(in, {[&](uint64_t, const std::string& digits, size_t) {
                          words.push_back(digits);
                          return true;
                        },
                        [](const std::string&, size_t) {}});
  return words;
}

}  // namespace ssmsim::sim::vecio

namespace ssmsim::sim {

namespace fs = std::filesystem;

VectorSource vector_source(const fs::path& dir) {
  const vecio::Manifest mf(dir);
  const nlohmann::json& src = mf.object(mf.json(), "source", "");
  VectorSource s;
  for (const auto& [key, out] : {std::pair<const char*, std::string*>{"checkpoint", &s.checkpoint}, {"hw", &s.hw}}) {
    const fs::path p = mf.str(src, key, "source");
    if (p.empty()) mf.fail(std::string("source.") + key, "empty");
    // relative to the vectors folder (the folder and the model move together)
    const fs::path full = p.is_absolute() ? p : dir / p;
    std::error_code ec;
    const fs::file_status st = fs::status(full, ec);
    if (!fs::exists(st)) mf.fail(std::string("source.") + key, full.string() + " does not exist");
    if (!fs::is_regular_file(st))
      mf.fail(std::string("source.") + key, full.string() + " is not a regular file (a folder, FIFO or device is refused)");
    *out = full.string();
  }
  s.workload = mf.str(src, "workload", "source");
  return s;
}

}  // namespace ssmsim::sim
