#include "reports/record.hpp"

#include "quant/errors.hpp"
#include "quant/staged_file.hpp"

namespace ssmsim::reports {

void write_text_atomic(const std::filesystem::path& path, const std::string& text) {
  write_file_atomic(path, text);
}

void write_texts_atomic(const std::vector<std::pair<std::filesystem::path, std::string>>& files) {
  std::error_code ec;
  for (const auto& [path, text] : files)
    if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
      throw InputError("cannot write '" + path.string() + "': it exists and is not a regular file");
  std::vector<StagedFile> staged;  // every file written and synced before the first is renamed
  staged.reserve(files.size());
  for (const auto& [path, text] : files) staged.emplace_back(path, text);
  for (auto& f : staged) f.commit();
}

void write_json(const std::filesystem::path& path, const nlohmann::json& record) {
  write_text_atomic(path, record.dump(2) + "\n");
}

}  // namespace ssmsim::reports
