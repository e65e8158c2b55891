// Result records: one JSON object per run, written whole (temporary file, then rename) so a
// crash never leaves a partial record.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace ssmsim::reports {

// Writes `text` to `path` atomically; throws InputError naming the path on failure.
void write_text_atomic(const std::filesystem::path& path, const std::string& text);
// Writes several files as one: every text to its temporary name first, then the renames, so a
// failure (a full disk, a folder in the way) leaves none of them new and no temporary behind.
// A path that exists and is not a regular file is refused before anything is written.
void write_texts_atomic(const std::vector<std::pair<std::filesystem::path, std::string>>& files);
void write_json(const std::filesystem::path& path, const nlohmann::json& record);

}  // namespace ssmsim::reports
