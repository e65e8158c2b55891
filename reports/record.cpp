#include "reports/record.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "quant/errors.hpp"

namespace ssmsim::reports {

void write_text_atomic(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      throw InputError("cannot write '" + path.string() + "': " + std::strerror(errno) +
                       " (does the folder exist and is it writable?)");
    out << text;
    out.flush();
    if (!out) {
      std::filesystem::remove(tmp);
      throw InputError("writing '" + path.string() + "' failed: " + std::strerror(errno));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    throw InputError("cannot write '" + path.string() + "': " + ec.message());
  }
}

void write_json(const std::filesystem::path& path, const nlohmann::json& record) {
  write_text_atomic(path, record.dump(2) + "\n");
}

}  // namespace ssmsim::reports
