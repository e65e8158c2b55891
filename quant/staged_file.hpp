// Writing a file so that a reader sees the old file or the whole new one, never a part (issue 17):
// the bytes go to a fresh temporary name beside the target (O_EXCL, same file system), are synced
// to disk, and the temporary is renamed over the target; the folder is synced after the rename.
// Every failure is an InputError naming the target and what failed, and leaves no temporary behind.
// It lives in the base layer because models (ssm_core), reports and sweeps all write this way.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace ssmsim {

// One file written in two steps, so that several can be written before any is renamed
// (reports::write_texts_atomic): the constructor writes and syncs the temporary, commit() renames
// it over the target. A StagedFile destroyed uncommitted removes its temporary.
class StagedFile {
 public:
  // `what` names the kind of file in messages ("safetensors file", "report").
  StagedFile(std::filesystem::path target, std::string_view bytes, std::string what = "file");
  StagedFile(StagedFile&& other) noexcept;
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;
  StagedFile& operator=(StagedFile&&) = delete;
  ~StagedFile();
  void commit();
  const std::filesystem::path& temporary() const { return tmp_; }

 private:
  std::filesystem::path target_, tmp_;
  std::string what_;
  bool pending_ = false;
};

inline void write_file_atomic(const std::filesystem::path& target, std::string_view bytes,
                              const std::string& what = "file") {
  StagedFile(target, bytes, what).commit();
}

// Syncs every regular file directly in `folder`, then the folder itself, so that a folder staged
// under a temporary name is whole on disk before it is renamed into place (best effort).
void sync_folder(const std::filesystem::path& folder);

}  // namespace ssmsim
