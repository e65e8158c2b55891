#include "quant/staged_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "quant/errors.hpp"

namespace ssmsim {

namespace fs = std::filesystem;

namespace {

InputError write_error(const std::string& what, const fs::path& target, const std::string& step, int err) {
  return InputError("cannot write " + what + " '" + target.string() + "': " + step + ": " + std::strerror(err));
}

fs::path folder_of(const fs::path& target) { return target.parent_path().empty() ? "." : target.parent_path(); }

void sync_one(const fs::path& p, int flags) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | flags);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

StagedFile::StagedFile(fs::path target, std::string_view bytes, std::string what)
    : target_(std::move(target)), what_(std::move(what)) {
  if (!target_.has_filename()) throw InputError("cannot write " + what_ + " '" + target_.string() + "': the path names no file");
  static std::atomic<unsigned> counter{0};
  const fs::path dir = folder_of(target_);
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp_ = dir / ("." + target_.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                  std::to_string(counter++));
    fd = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && (errno != EEXIST || attempt >= 100))
      throw write_error(what_, target_, "cannot create a temporary file in '" + dir.string() + "'", errno);
  }
  auto abandon = [&](const std::string& step, int err) {
    ::close(fd);
    ::unlink(tmp_.c_str());
    return write_error(what_, target_, step + " '" + tmp_.string() + "' failed", err);
  };
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw abandon("writing", n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) throw abandon("syncing", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    throw write_error(what_, target_, "closing '" + tmp_.string() + "' failed", err);
  }
  pending_ = true;
}

StagedFile::StagedFile(StagedFile&& other) noexcept
    : target_(std::move(other.target_)), tmp_(std::move(other.tmp_)), what_(std::move(other.what_)),
      pending_(other.pending_) {
  other.pending_ = false;
}

StagedFile::~StagedFile() {
  if (pending_) ::unlink(tmp_.c_str());
}

void StagedFile::commit() {
  if (!pending_) return;
  if (::rename(tmp_.c_str(), target_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    pending_ = false;
    throw write_error(what_, target_, "renaming '" + tmp_.string() + "' to it failed", err);
  }
  pending_ = false;
  // the rename is durable once the folder is synced (best effort: some file systems refuse it)
  sync_one(folder_of(target_), O_DIRECTORY);
}

void sync_folder(const fs::path& folder) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder, ec))
    if (e.is_regular_file(ec)) sync_one(e.path(), O_NOFOLLOW);
  sync_one(folder, O_DIRECTORY);
}

}  // namespace ssmsim
