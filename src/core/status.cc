#include "cairn/core/status.h"

#include <cerrno>
#include <cstring>

namespace cairn {

Status Status::FromErrno(std::string_view context, int err) {
  std::string msg = std::string(context) + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return NotFound(std::move(msg));
    case EACCES:
    case EPERM:
    case EROFS:
      return PermissionDenied(std::move(msg));
    case EEXIST:
      return AlreadyExists(std::move(msg));
    case EINTR:
    case EAGAIN:
      return Transient(std::move(msg));
    default:
      return IOError(std::move(msg));
  }
}

std::string_view Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      return "invalid argument";
    case Code::kNotFound:
      return "not found";
    case Code::kAlreadyExists:
      return "already exists";
    case Code::kPreconditionFailed:
      return "precondition failed";
    case Code::kPermissionDenied:
      return "permission denied";
    case Code::kCorrupt:
      return "corrupt input";
    case Code::kUnsupported:
      return "unsupported";
    case Code::kUnsafe:
      return "refused as unsafe";
    case Code::kTransient:
      return "transient error";
    case Code::kIOError:
      return "I/O error";
    case Code::kInternal:
      return "internal error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

}  // namespace cairn
