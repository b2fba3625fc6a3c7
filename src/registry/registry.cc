#include "cairn/registry/registry.h"

#include <cstdlib>

#include <set>

#include "cairn/registry/layout.h"
#include "chunk_cache.h"
#include "manifest.h"

namespace cairn {

using namespace registry;
using namespace layout;

std::string_view ApprovalName(Approval a) {
  switch (a) {
    case Approval::kApproved:
      return "Approved";
    case Approval::kRejected:
      return "Rejected";
    default:
      return "PendingManualApproval";
  }
}

Registry::Registry(std::unique_ptr<ObjectStore> store, const std::string& cache_dir,
                   const Clock& clock)
    : store_(std::move(store)), clock_(&clock) {
  if (!cache_dir.empty()) cache_ = std::make_unique<ChunkCache>(cache_dir);
}

Registry::~Registry() = default;

std::string registry::DefaultCacheDir() { return ChunkCache::DefaultDir(); }

std::string registry::DataDir(const std::string& name) {
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x)
    return std::string(x) + "/cairn/" + name;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.local/share/cairn/" + name;
}

std::string registry::StoreUri(const std::string& uri) {
  if (!uri.empty()) return uri;
  if (const char* s = std::getenv("CAIRN_STORE"); s && *s) return s;
  return DataDir("store");
}

Result<std::unique_ptr<Registry>> OpenRegistry(const std::string& uri) {
  const std::string resolved = registry::StoreUri(uri);
  CAIRN_ASSIGN_OR_RETURN(auto store, OpenStore(resolved));
  const char* off = std::getenv("CAIRN_CACHE_DIR");
  const bool remote = resolved.compare(0, 5, "s3://") == 0;
  std::string cache =
      remote && !(off && std::string(off) == "off") ? registry::DefaultCacheDir() : "";
  return std::make_unique<Registry>(std::move(store), cache);
}

uint64_t VersionInfo::total_size() const {
  uint64_t n = 0;
  for (const auto& f : files) n += f.size;
  return n;
}

Status ValidateName(const std::string& what, const std::string& name) {
  bool ok = !name.empty() && name.size() <= 63 && std::isalnum(static_cast<unsigned char>(name[0]));
  for (char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
  if (!ok) {
    return Status::InvalidArgument("invalid " + what + " '" + name +
                                   "': use 1-63 letters, digits, '-', '_' or '.', starting with a "
                                   "letter or digit");
  }
  return Status::OK();
}

Result<int64_t> Registry::LatestVersion(const std::string& group) {
  CAIRN_ASSIGN_OR_RETURN(auto objects, store_->List(VersionsPrefix(group)));
  int64_t latest = 0;
  for (const auto& o : objects) latest = std::max(latest, SeqOf(o.key));
  return latest;
}

Result<VersionInfo> Registry::Load(const std::string& group, int64_t version) {
  const std::string key = VersionKey(group, version);
  auto text = GetString(*store_, key);
  if (!text.ok()) {
    if (text.status().code() == Status::Code::kNotFound) {
      return Status::NotFound("no version " + group + ":" + std::to_string(version));
    }
    return text.status();
  }
  CAIRN_ASSIGN_OR_RETURN(VersionInfo v, ManifestFromJson(*text, key));
  if (v.group != group || v.version != version) {
    return Status::Corrupt("version manifest " + key + " names " + v.ref());
  }
  CAIRN_RETURN_IF_ERROR(Decorate(v));
  return v;
}

Status Registry::Decorate(VersionInfo& v) {
  CAIRN_ASSIGN_OR_RETURN(auto approvals, store_->List(ApprovalPrefix(v.group, v.version)));
  if (!approvals.empty()) {
    auto text = GetString(*store_, approvals.back().key);  // the highest sequence number
    if (text.ok()) {
      Json j = Json::parse(*text, nullptr, false);
      std::string s = j.is_object() ? j.value("status", "") : "";
      if (s == "Approved") v.approval = Approval::kApproved;
      if (s == "Rejected") v.approval = Approval::kRejected;
    }
  }
  CAIRN_ASSIGN_OR_RETURN(auto objects, store_->List(AliasesPrefix(v.group)));
  std::vector<std::string> keys;
  for (const auto& o : objects) keys.push_back(o.key);
  CAIRN_ASSIGN_OR_RETURN(auto states, ReadAliases(v.group, keys));
  for (const auto& [name, st] : states)
    if (!st.stack.empty() && st.stack.back().version == v.version) v.aliases.push_back(name);
  return Status::OK();
}

Result<VersionInfo> Registry::Resolve(const std::string& ref) {
  size_t at = ref.find('@'), colon = ref.find(':');
  std::string group = ref.substr(0, std::min(at, colon));
  CAIRN_RETURN_IF_ERROR(ValidateName("model group", group));
  if (at != std::string::npos) {
    std::string alias = ref.substr(at + 1);
    CAIRN_RETURN_IF_ERROR(ValidateName("alias", alias));
    CAIRN_ASSIGN_OR_RETURN(AliasState st, ReadAlias(group, alias));
    if (st.stack.empty()) return Status::NotFound("alias " + ref + " points nowhere");
    return Load(group, st.stack.back().version);
  }
  std::string which = colon == std::string::npos ? "latest" : ref.substr(colon + 1);
  if (which == "latest") {
    CAIRN_ASSIGN_OR_RETURN(int64_t latest, LatestVersion(group));
    if (latest == 0) return Status::NotFound("model group " + group + " has no versions");
    return Load(group, latest);
  }
  char* end = nullptr;
  long long n = std::strtoll(which.c_str(), &end, 10);
  if (which.empty() || *end != '\0' || n <= 0) {
    return Status::InvalidArgument("bad reference '" + ref +
                                   "': use GROUP:VERSION, GROUP:latest or GROUP@ALIAS");
  }
  return Load(group, n);
}

Result<std::vector<std::string>> Registry::ListGroups() {
  CAIRN_ASSIGN_OR_RETURN(auto objects, store_->List(GroupsPrefix()));
  std::set<std::string> groups;
  for (const auto& o : objects) {
    auto group = SegmentAfter(o.key, GroupsPrefix());
    if (group && o.key.compare(0, VersionsPrefix(*group).size(), VersionsPrefix(*group)) == 0)
      groups.insert(*group);
  }
  return std::vector<std::string>(groups.begin(), groups.end());
}

Status Registry::AppendEvent(const std::string& prefix, const std::string& body, int64_t* seq_out) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    CAIRN_ASSIGN_OR_RETURN(auto objects, store_->List(prefix));
    int64_t last = 0;
    for (const auto& o : objects) last = std::max(last, SeqOf(o.key));
    auto put = PutString(*store_, prefix + Seq(last + 1) + ".json", body, PutOptions::IfAbsent());
    if (put.ok()) {
      if (seq_out) *seq_out = last + 1;
      return Status::OK();
    }
    if (put.status().code() != Status::Code::kPreconditionFailed) return put.status();
  }
  return Status::Transient("too much contention on " + prefix);
}

Result<Registry::AliasState> Registry::ReadAlias(const std::string& group,
                                                 const std::string& alias) {
  CAIRN_ASSIGN_OR_RETURN(auto objects, store_->List(AliasPrefix(group, alias)));
  std::vector<std::string> keys;
  for (const auto& o : objects) keys.push_back(o.key);
  CAIRN_ASSIGN_OR_RETURN(auto states, ReadAliases(group, keys));
  return states[alias];
}

Status Registry::SetAlias(const std::string& group, const std::string& alias, int64_t version,
                          const std::string& by) {
  CAIRN_RETURN_IF_ERROR(ValidateName("alias", alias));
  CAIRN_RETURN_IF_ERROR(Load(group, version).status());
  Json j{{"kind", "set"},
         {"version", version},
         {"at_ms", NowMs()},
         {"by", by.empty() ? WhoAmI() : by}};
  return AppendEvent(AliasPrefix(group, alias), j.dump(), nullptr);
}

Result<int64_t> Registry::Rollback(const std::string& group, const std::string& alias,
                                   const std::string& by) {
  CAIRN_RETURN_IF_ERROR(ValidateName("alias", alias));
  // Compute what the alias falls back to, then append the rollback as the next entry; a
  // concurrent move in between takes that sequence number first, and we look again.
  for (int attempt = 0; attempt < 100; ++attempt) {
    CAIRN_ASSIGN_OR_RETURN(AliasState st, ReadAlias(group, alias));
    if (st.stack.size() < 2) {
      return Status::PreconditionFailed("alias " + group + "@" + alias +
                                        " has no earlier version to roll back to");
    }
    const int64_t target = st.stack[st.stack.size() - 2].version;
    Json j{{"kind", "rollback"},
           {"version", target},
           {"at_ms", NowMs()},
           {"by", by.empty() ? WhoAmI() : by}};
    auto put = PutString(*store_, AliasPrefix(group, alias) + Seq(st.last_seq + 1) + ".json",
                         j.dump(), PutOptions::IfAbsent());
    if (put.ok()) return target;
    if (put.status().code() != Status::Code::kPreconditionFailed) return put.status();
  }
  return Status::Transient("too much contention on alias " + alias);
}

Result<std::vector<AliasEvent>> Registry::AliasHistory(const std::string& group,
                                                       const std::string& alias) {
  CAIRN_ASSIGN_OR_RETURN(AliasState st, ReadAlias(group, alias));
  return st.history;
}

Status Registry::SetApproval(const std::string& ref, Approval status, const std::string& by) {
  CAIRN_ASSIGN_OR_RETURN(VersionInfo v, Resolve(ref));
  Json j{{"status", ApprovalName(status)}, {"at_ms", NowMs()}, {"by", by.empty() ? WhoAmI() : by}};
  return AppendEvent(ApprovalPrefix(v.group, v.version), j.dump(), nullptr);
}

}  // namespace cairn
