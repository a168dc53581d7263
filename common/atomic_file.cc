#include "common/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

namespace compsweep {

namespace {

constexpr const char* kDiskFull = "disk full";

std::string ErrnoText(int err) {
  if (err == ENOSPC || err == EDQUOT) return kDiskFull;
  return std::strerror(err);
}

}  // namespace

Status WriteFileAtomically(const std::string& path, const std::string& bytes, int mode) {
  // A unique temporary name, so two writers of the same path never share one.
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::string tmp = path + ".tmp" + std::to_string(rng() & 0xffffffff);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return IoError("writing " + path + ": " + ErrnoText(errno));
  int err = 0;
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return IoError("writing " + path + ": " + ErrnoText(err));
  }
  return Status::Ok();
}

bool IsDiskFull(const Status& status) {
  return !status.ok() && status.message().find(kDiskFull) != std::string::npos;
}

}  // namespace compsweep
