// Listing a group's versions at scale (issue 16: 10,000 versions and 100 aliases in under 1 s,
// on a local store and on S3). One LIST of the group's prefix tells which versions, approvals,
// alias events and index pages exist; every alias is replayed once for the whole listing (not
// once per version); the approval events and manifests still needed are read in parallel; and
// manifests come 100 at a time from index pages. A page is written once, with create-if-absent,
// by whichever lister first finds its 100 versions all present: versions are immutable, so a page
// is a faithful copy by construction, and a damaged or missing page only costs the reads it
// would have saved. CAIRN_REGISTRY_INDEX=off lists one version at a time, as before.
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>

#include "cairn/core/parallel.h"
#include "cairn/registry/layout.h"
#include "cairn/registry/registry.h"
#include "manifest.h"

namespace cairn {

using namespace layout;
using Json = nlohmann::json;

namespace {

constexpr size_t kReaders = 32;  // reads in flight: they wait on the store, not on a CPU

bool IndexOff() {
  const char* v = std::getenv("CAIRN_REGISTRY_INDEX");
  return v && std::string(v) == "off";
}

}  // namespace

Result<std::map<std::string, Registry::AliasState>> Registry::ReadAliases(
    const std::string& group, const std::vector<std::string>& keys) {
  const std::string prefix = AliasesPrefix(group);
  std::vector<std::string> texts(keys.size());
  CAIRN_RETURN_IF_ERROR(ParallelFor(
      keys.size(),
      [&](size_t i) -> Status {
        if (SeqOf(keys[i]) <= 0) return Status::OK();
        CAIRN_ASSIGN_OR_RETURN(texts[i], GetString(*store_, keys[i]));
        return Status::OK();
      },
      kReaders));
  std::map<std::string, AliasState> out;
  for (size_t i = 0; i < keys.size(); ++i) {  // sorted: each alias's events in order
    auto name = SegmentAfter(keys[i], prefix);
    if (!name || SeqOf(keys[i]) <= 0) continue;
    Json j = Json::parse(texts[i], nullptr, false);
    if (!j.is_object()) return Status::Corrupt("alias event " + keys[i] + " is not JSON");
    AliasState& st = out[*name];
    AliasEvent e{SeqOf(keys[i]), j.value("version", int64_t{0}), j.value("at_ms", int64_t{0}),
                 j.value("by", "")};
    st.last_seq = std::max(st.last_seq, e.seq);
    st.history.push_back(e);
    if (j.value("kind", "set") == "rollback") {
      if (!st.stack.empty()) st.stack.pop_back();
    } else {
      st.stack.push_back(e);
    }
  }
  return out;
}

Status Registry::WriteIndexPage(const std::string& group, int64_t page) {
  std::vector<std::string> texts(static_cast<size_t>(kIndexPageSize));
  CAIRN_RETURN_IF_ERROR(ParallelFor(
      texts.size(),
      [&](size_t i) -> Status {
        const int64_t n = page * kIndexPageSize + static_cast<int64_t>(i) + 1;
        CAIRN_ASSIGN_OR_RETURN(texts[i], GetString(*store_, VersionKey(group, n)));
        return Status::OK();
      },
      kReaders));
  const Json arr = texts;
  auto put = PutString(*store_, IndexPageKey(group, page), arr.dump(), PutOptions::IfAbsent());
  if (put.status().code() == Status::Code::kPreconditionFailed ||
      put.status().code() == Status::Code::kAlreadyExists)
    return Status::OK();  // written by someone else: the same bytes
  return put.status();
}

Result<std::vector<VersionInfo>> Registry::ListVersions(const std::string& group) {
  CAIRN_RETURN_IF_ERROR(ValidateName("model group", group));
  if (IndexOff()) {
    CAIRN_ASSIGN_OR_RETURN(auto objects, store_->List(VersionsPrefix(group)));
    std::vector<VersionInfo> out;
    for (const auto& o : objects) {
      int64_t n = SeqOf(o.key);
      if (n <= 0) continue;
      CAIRN_ASSIGN_OR_RETURN(VersionInfo v, Load(group, n));
      out.push_back(std::move(v));
    }
    return out;
  }
  // What exists, from one listing.
  CAIRN_ASSIGN_OR_RETURN(auto objects, store_->List(GroupPrefix(group)));
  std::set<int64_t> versions;
  std::map<int64_t, std::string> last_approval;  // version -> its highest approval event
  std::vector<std::string> alias_keys;
  std::set<int64_t> pages;
  const std::string vp = VersionsPrefix(group), ap = GroupPrefix(group) + "approvals/",
                    alp = AliasesPrefix(group), ip = IndexPrefix(group);
  for (const auto& o : objects) {
    const std::string& k = o.key;
    if (k.compare(0, vp.size(), vp) == 0) {
      if (int64_t n = SeqOf(k); n > 0) versions.insert(n);
    } else if (k.compare(0, ap.size(), ap) == 0) {
      auto v = SegmentAfter(k, ap);
      if (!v) continue;
      const int64_t n = SeqOf(*v + ".json");
      if (n > 0 && SeqOf(k) > 0) last_approval[n] = k;  // keys come sorted: the last is highest
    } else if (k.compare(0, alp.size(), alp) == 0) {
      alias_keys.push_back(k);
    } else if (k.compare(0, ip.size(), ip) == 0) {
      if (int64_t p = SeqOf(k); p >= 0) pages.insert(p);
    }
  }
  // Each alias, replayed once for the whole listing.
  CAIRN_ASSIGN_OR_RETURN(auto alias_states, ReadAliases(group, alias_keys));
  std::vector<std::string> alias_names;
  std::vector<int64_t> alias_at;
  for (const auto& [name, st] : alias_states) {
    alias_names.push_back(name);
    alias_at.push_back(st.stack.empty() ? 0 : st.stack.back().version);
  }
  // Manifests: from index pages where there are, else one by one.
  std::map<int64_t, std::string> manifests;  // version -> manifest JSON, checked
  // A manifest from a page counts only if it parses and names its slot's version.
  auto fits = [&](int64_t n, const std::string& text) {
    auto v = registry::ManifestFromJson(text, IndexPrefix(group));
    return v.ok() && v->group == group && v->version == n;
  };
  std::mutex mu;
  std::vector<int64_t> page_list(pages.begin(), pages.end());
  CAIRN_RETURN_IF_ERROR(ParallelFor(
      page_list.size(),
      [&](size_t i) -> Status {
        auto text = GetString(*store_, IndexPageKey(group, page_list[i]));
        if (!text.ok()) return Status::OK();  // read one by one below
        Json page = Json::parse(*text, nullptr, false);
        if (!page.is_array() || page.size() != static_cast<size_t>(kIndexPageSize))
          return Status::OK();
        for (size_t j = 0; j < page.size(); ++j) {
          const int64_t n = page_list[i] * kIndexPageSize + static_cast<int64_t>(j) + 1;
          if (!page[j].is_string() || !fits(n, page[j].get<std::string>())) continue;
          std::lock_guard<std::mutex> lock(mu);
          manifests[n] = page[j].get<std::string>();
        }
        return Status::OK();
      },
      kReaders));
  std::vector<int64_t> missing;
  for (int64_t n : versions)
    if (!manifests.count(n)) missing.push_back(n);
  CAIRN_RETURN_IF_ERROR(ParallelFor(
      missing.size(),
      [&](size_t i) -> Status {
        CAIRN_ASSIGN_OR_RETURN(std::string text, GetString(*store_, VersionKey(group, missing[i])));
        std::lock_guard<std::mutex> lock(mu);
        manifests[missing[i]] = std::move(text);
        return Status::OK();
      },
      kReaders));
  // Approval: the highest event of each version that has one.
  std::vector<std::pair<int64_t, std::string>> approvals(last_approval.begin(),
                                                         last_approval.end());
  std::vector<Approval> approval(approvals.size(), Approval::kPendingManualApproval);
  CAIRN_RETURN_IF_ERROR(ParallelFor(
      approvals.size(),
      [&](size_t i) -> Status {
        auto text = GetString(*store_, approvals[i].second);
        if (!text.ok()) return Status::OK();
        Json j = Json::parse(*text, nullptr, false);
        const std::string s = j.is_object() ? j.value("status", "") : "";
        if (s == "Approved") approval[i] = Approval::kApproved;
        if (s == "Rejected") approval[i] = Approval::kRejected;
        return Status::OK();
      },
      kReaders));
  std::map<int64_t, Approval> approval_of;
  for (size_t i = 0; i < approvals.size(); ++i) approval_of[approvals[i].first] = approval[i];

  std::vector<VersionInfo> out;
  out.reserve(versions.size());
  for (int64_t n : versions) {
    const std::string where = VersionKey(group, n);
    CAIRN_ASSIGN_OR_RETURN(VersionInfo v, registry::ManifestFromJson(manifests[n], where));
    if (v.group != group || v.version != n)
      return Status::Corrupt("version manifest " + where + " names " + v.ref());
    if (auto a = approval_of.find(n); a != approval_of.end()) v.approval = a->second;
    for (size_t i = 0; i < alias_names.size(); ++i)
      if (alias_at[i] == n) v.aliases.push_back(alias_names[i]);
    out.push_back(std::move(v));
  }
  // Pages whose versions all exist now and that nobody has written yet.
  for (int64_t n : versions) {
    if (n % kIndexPageSize != 0) continue;
    const int64_t page = n / kIndexPageSize - 1;
    if (pages.count(page)) continue;
    Json arr = Json::array();
    for (int64_t m = page * kIndexPageSize + 1; m <= n; ++m) {
      if (!versions.count(m)) break;
      arr.push_back(manifests[m]);
    }
    if (arr.size() != static_cast<size_t>(kIndexPageSize)) continue;
    (void)PutString(*store_, IndexPageKey(group, page), arr.dump(), PutOptions::IfAbsent());
  }
  return out;
}

}  // namespace cairn
