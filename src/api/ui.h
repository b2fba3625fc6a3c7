// Private to api: the web dashboard at /ui (docs/dashboard.md). cairn server serves it beside the
// API; `cairn ui` serves it alone, read-only, over a store.
//
// Security: every page, asset and JSON answer but the login page and its stylesheet needs a
// session. POST /ui/login checks an access key and its secret (the server's credentials) and sets
// the session cookie (`cairn_session`, HttpOnly, SameSite=Strict, Path=/ui). Every action (POST
// under /ui/api/) must also carry the session's CSRF token in X-CSRF-Token. Sessions live in this
// process's memory for 12 hours (a restart logs everyone out).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "api.h"

namespace cairn::api {

class UiSessions {
 public:
  static constexpr int64_t kLifetimeMs = 12 * 3600 * 1000;
  static constexpr size_t kMaxSessions = 10'000;  // the oldest go first past this
  struct Session {
    std::string access_key, csrf_token;
    int64_t expires_ms = 0;
  };
  // A new session for `access_key`: its id (the cookie's value) and CSRF token are 256 random
  // bits each, hex.
  std::pair<std::string, Session> Create(const std::string& access_key, int64_t now_ms);
  // The live session with this id; nullopt if none (unknown, expired or ended).
  std::optional<Session> Find(const std::string& id, int64_t now_ms);
  void End(const std::string& id);

  // Guessing secrets: after kMaxFailures failed logins in a row for one access key (known or
  // not, so that the answer does not tell which keys exist), that key cannot log in for
  // kLockoutMs; other keys, and the API with SigV4, are not affected. One atomic step:
  // kLocked (not even checked), else kOk when `secret_ok`, else kWrong (and counted).
  static constexpr int kMaxFailures = 5;
  static constexpr int64_t kLockoutMs = 30'000;
  static constexpr size_t kMaxTracked = 10'000;  // keys with failures remembered at once
  enum class Login { kOk, kWrong, kLocked };
  Login Attempt(const std::string& access_key, bool secret_ok, int64_t now_ms);

 private:
  std::mutex mu_;
  std::map<std::string, Session> sessions_;
  struct Failures {
    int count = 0;
    int64_t locked_until_ms = 0;
  };
  std::map<std::string, Failures> failures_;  // by access key (known keys only)
};

// One request under /ui. `read_only`: actions are refused (403), as `cairn ui` serves.
net::HttpResponse HandleUi(Context& c, UiSessions& sessions, const net::HttpRequest& req,
                           bool read_only);

// The dashboard's data (ui_data.cc), each a JSON document the pages render. Errors: the
// registry's and the store's (kNotFound for what does not exist).
Result<Json> UiGroups(Context& c);
Result<Json> UiVersions(Context& c, const std::string& group);
// A version: its files, lineage (training job, channels with digests, code digest) and what
// serves it (aliases, endpoints whose models use it).
Result<Json> UiVersion(Context& c, const std::string& group, int64_t version);
// The tensors (name, dtype, shape, bytes) of a version's weight files, read and verified.
Result<Json> UiTensors(Context& c, const std::string& group, int64_t version);
// Files and tensors changed from ref `a` to ref `b` (max |b-a| and relative L2 per tensor).
Result<Json> UiDiff(Context& c, const std::string& a, const std::string& b);
Result<Json> UiJobs(Context& c);
// A job: status and transitions, metric series (every point), the last `log_lines` log lines.
Result<Json> UiJob(Context& c, const std::string& name, size_t log_lines);
Result<Json> UiEndpoints(Context& c);
// An endpoint: status, variants (weights, instances, health), the deployment in progress with
// its alarms, and per-10 s series of the last `minutes`: requests/s, errors, latency p50/p99.
Result<Json> UiEndpoint(Context& c, const std::string& name, int minutes);

// The dashboard's files, built into the program (ui_assets.cc, generated from web/ui and
// Debian's libjs-chart.js): path under /ui/static/ -> (content type, bytes).
struct UiAsset {
  const char* content_type;
  std::string_view bytes;
};
std::optional<UiAsset> FindUiAsset(const std::string& name);

}  // namespace cairn::api
