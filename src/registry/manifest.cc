#include "manifest.h"

#include <pwd.h>
#include <unistd.h>

#include <chrono>

#include "cairn/core/sha256.h"

namespace cairn::registry {

std::string FileDigest(const std::vector<ChunkRef>& chunks) {
  Sha256 h;
  for (const auto& c : chunks) {
    h.Update(c.sha256);
    h.Update(":" + std::to_string(c.size) + "\n");
  }
  return ToHex(h.Finish());
}

std::string WhoAmI() {
  char host[256] = "unknown";
  ::gethostname(host, sizeof(host) - 1);
  const char* user = std::getenv("USER");
  if (user == nullptr) {
    struct passwd* pw = ::getpwuid(::getuid());
    user = pw ? pw->pw_name : "unknown";
  }
  return std::string(user) + "@" + host;
}

std::string ManifestToJson(const VersionInfo& v) {
  Json files = Json::array();
  for (const auto& f : v.files) {
    Json chunks = Json::array();
    for (const auto& c : f.chunks) chunks.push_back(Json::array({c.sha256, c.size}));
    files.push_back({{"path", f.path},
                     {"size", f.size},
                     {"mode", f.mode},
                     {"digest", f.sha256},
                     {"chunks", std::move(chunks)}});
  }
  Json j{{"format", "cairn.version/1"}, {"group", v.group},
         {"version", v.version},        {"created_ms", v.created_ms},
         {"created_by", v.created_by},  {"description", v.description},
         {"metrics", v.metrics},        {"tags", v.tags},
         {"lineage", v.lineage},        {"files", std::move(files)}};
  return j.dump(1);
}

Result<VersionInfo> ManifestFromJson(const std::string& text, const std::string& where) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& what) {
    return Status::Corrupt("version manifest " + where + ": " + what);
  };
  if (j.is_discarded() || !j.is_object()) return bad("not JSON");
  if (j.value("format", "") != "cairn.version/1") return bad("unknown format");
  try {
    VersionInfo v;
    v.group = j.at("group").get<std::string>();
    v.version = j.at("version").get<int64_t>();
    v.created_ms = j.value("created_ms", int64_t{0});
    v.created_by = j.value("created_by", "");
    v.description = j.value("description", "");
    v.metrics = j.value("metrics", std::map<std::string, std::string>{});
    v.tags = j.value("tags", std::map<std::string, std::string>{});
    v.lineage = j.value("lineage", std::map<std::string, std::string>{});
    for (const auto& f : j.at("files")) {
      FileEntry e;
      e.path = f.at("path").get<std::string>();
      if (!ValidateKey(e.path).ok()) return bad("unsafe file path '" + e.path + "'");
      e.size = f.at("size").get<uint64_t>();
      e.mode = f.value("mode", 0644u);
      e.sha256 = f.at("digest").get<std::string>();
      uint64_t total = 0;
      for (const auto& c : f.at("chunks")) {
        ChunkRef r{c.at(0).get<std::string>(), c.at(1).get<uint64_t>()};
        if (r.sha256.size() != 64 ||
            r.sha256.find_first_not_of("0123456789abcdef") != std::string::npos) {
          return bad("bad chunk hash in " + e.path);
        }
        total += r.size;
        e.chunks.push_back(std::move(r));
      }
      if (total != e.size) return bad("chunks of " + e.path + " do not add up to its size");
      v.files.push_back(std::move(e));
    }
    return v;
  } catch (const std::exception& e) {
    return bad(e.what());
  }
}

}  // namespace cairn::registry
