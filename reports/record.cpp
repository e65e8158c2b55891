#include "reports/record.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "quant/errors.hpp"

namespace ssmsim::reports {

namespace {

std::filesystem::path tmp_of(const std::filesystem::path& path) {
  return path.string() + ".tmp." + std::to_string(::getpid());
}

// Writes `text` to `path`'s temporary name; on failure removes it and throws InputError naming `path`.
void write_tmp(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = tmp_of(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      throw InputError("cannot write '" + path.string() + "': " + std::strerror(errno) +
                       " (does the folder exist and is it writable?)");
    out << text;
    out.flush();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw InputError("writing '" + path.string() + "' failed: " + std::strerror(errno));
    }
  }
}

}  // namespace

void write_text_atomic(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = tmp_of(path);
  write_tmp(path, text);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    throw InputError("cannot write '" + path.string() + "': " + ec.message());
  }
}

void write_texts_atomic(const std::vector<std::pair<std::filesystem::path, std::string>>& files) {
  std::error_code ec;
  for (const auto& [path, text] : files)
    if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
      throw InputError("cannot write '" + path.string() + "': it exists and is not a regular file");
  size_t written = 0;
  try {
    for (; written < files.size(); ++written) write_tmp(files[written].first, files[written].second);
  } catch (const InputError&) {
    for (size_t i = 0; i < written; ++i) std::filesystem::remove(tmp_of(files[i].first), ec);
    throw;
  }
  for (size_t i = 0; i < files.size(); ++i) {
    std::filesystem::rename(tmp_of(files[i].first), files[i].first, ec);
    if (ec) {
      for (size_t k = i; k < files.size(); ++k) std::filesystem::remove(tmp_of(files[k].first), ec);
      throw InputError("cannot write '" + files[i].first.string() + "': " + ec.message());
    }
  }
}

void write_json(const std::filesystem::path& path, const nlohmann::json& record) {
  write_text_atomic(path, record.dump(2) + "\n");
}

}  // namespace ssmsim::reports
