#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

#include "cairn/core/text.h"
#include "ui.h"

namespace cairn::api {
namespace {

std::string RandomHex() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) throw std::runtime_error("RAND_bytes failed");
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace

std::pair<std::string, UiSessions::Session> UiSessions::Create(const std::string& access_key,
                                                               int64_t now_ms) {
  Session s{access_key, RandomHex(), now_ms + kLifetimeMs};
  std::string id = RandomHex();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = sessions_.begin(); it != sessions_.end();)
    it = it->second.expires_ms <= now_ms ? sessions_.erase(it) : std::next(it);
  while (sessions_.size() >= kMaxSessions) {  // the one closest to expiring goes
    auto oldest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
      if (it->second.expires_ms < oldest->second.expires_ms) oldest = it;
    sessions_.erase(oldest);
  }
  sessions_[id] = s;
  return {id, s};
}

std::optional<UiSessions::Session> UiSessions::Find(const std::string& id, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires_ms <= now_ms) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void UiSessions::End(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(id);
}

UiSessions::Login UiSessions::Attempt(const std::string& access_key, bool secret_ok,
                                      int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = failures_.find(access_key);
  if (it != failures_.end() && it->second.locked_until_ms > now_ms) return Login::kLocked;
  if (secret_ok) {
    if (it != failures_.end()) failures_.erase(it);
    return Login::kOk;
  }
  if (it == failures_.end()) {
    if (failures_.size() >= kMaxTracked) failures_.erase(failures_.begin());
    it = failures_.emplace(access_key, Failures{}).first;
  }
  if (++it->second.count >= kMaxFailures) {
    it->second.count = 0;
    it->second.locked_until_ms = now_ms + kLockoutMs;
  }
  return Login::kWrong;
}

}  // namespace cairn::api
