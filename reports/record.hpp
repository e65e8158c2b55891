// Result records: one JSON object per run, written whole (temporary file, then rename) so a
// crash never leaves a partial record.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace ssmsim::reports {

// Writes `text` to `path` atomically; throws InputError naming the path on failure.
void write_text_atomic(const std::filesystem::path& path, const std::string& text);
void write_json(const std::filesystem::path& path, const nlohmann::json& record);

}  // namespace ssmsim::reports
