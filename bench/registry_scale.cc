// Registry scale (issue 16): a group with 10,000 versions and 100 aliases. In one run, on the
// store given: `models versions` (Registry::ListVersions) as it was (one version at a time,
// CAIRN_REGISTRY_INDEX=off; timed on a sample and multiplied, as the whole would take hours),
// and with the index, first (writing its pages) and then warm; alias and latest resolution.
//   registry_scale STORE_URI [--versions N] [--aliases N] [--sample N]
// The group is filled fast: version 1 is published, the others are copies of its manifest under
// their numbers (the same store state a publisher would leave, without its chunk uploads).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cairn/core/file.h"
#include "cairn/core/parallel.h"
#include "cairn/registry/layout.h"
#include "cairn/registry/registry.h"

using namespace cairn;

namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void Check(const Status& st, const char* what) {
  if (!st.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, st.ToString().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: registry_scale STORE_URI [--versions N] [--aliases N] [--sample N]\n");
    return 2;
  }
  const std::string uri = argv[1];
  int64_t n = 10000, aliases = 100, sample = 20;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string f = argv[i];
    const int64_t v = std::atoll(argv[i + 1]);
    if (f == "--versions") n = v;
    if (f == "--aliases") aliases = v;
    if (f == "--sample") sample = v;
  }
  auto registry = OpenRegistry(uri);
  Check(registry.status(), "open");
  Registry& r = **registry;
  const std::string g = "scale";
  ObjectStore& store = r.store();
  auto existing = store.List(layout::VersionsPrefix(g));
  Check(existing.status(), "list");
  if (existing->size() < static_cast<size_t>(n)) {
    auto t0 = std::chrono::steady_clock::now();
    if (existing->empty()) {
      const std::string dir =
          (std::filesystem::temp_directory_path() / "cairn-registry-scale").string();
      std::filesystem::create_directories(dir);
      Check(WriteFileAtomically(dir + "/model.pth", std::string(4096, 'w')), "write");
      Check(r.Publish(g, dir).status(), "publish");
    }
    auto first = GetString(store, layout::VersionKey(g, 1));
    Check(first.status(), "read v1");
    nlohmann::json m = nlohmann::json::parse(*first);
    Check(ParallelFor(
              static_cast<size_t>(n - 1),
              [&](size_t i) -> Status {
                nlohmann::json c = m;
                c["version"] = static_cast<int64_t>(i) + 2;
                c["description"] = "copy " + std::to_string(i + 2);
                auto put = PutString(store, layout::VersionKey(g, static_cast<int64_t>(i) + 2),
                                     c.dump(), PutOptions::IfAbsent());
                return put.ok() || put.status().code() == Status::Code::kPreconditionFailed ||
                               put.status().code() == Status::Code::kAlreadyExists
                           ? Status::OK()
                           : put.status();
              },
              32),
          "fill");
    for (int64_t a = 0; a < aliases; ++a) {
      const std::string name = "alias-" + std::to_string(a);
      Check(r.SetAlias(g, name, 1 + (a * 97) % n), "alias");
      Check(r.SetAlias(g, name, 1 + (a * 89 + 13) % n), "alias");
    }
    for (int64_t v = 1; v <= n; v += 10)
      Check(r.SetApproval(g + ":" + std::to_string(v), Approval::kApproved), "approval");
    std::printf(
        "filled %s with %lld versions, %lld aliases (2 moves each), approvals on every "
        "10th version in %.1f s\n",
        g.c_str(), static_cast<long long>(n), static_cast<long long>(aliases), Seconds(t0));
  }
  // Today's listing: one version at a time (each loads its manifest, its approval and every
  // alias), on a sample of versions; the whole is that times n / sample.
  {
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t v = 1; v <= sample; ++v)
      Check(r.Resolve(g + ":" + std::to_string(v)).status(), "resolve");
    const double per = Seconds(t0) / static_cast<double>(sample);
    std::printf(
        "  one version at a time (as before): %.4f s per version -> %.1f s for %lld "
        "versions (measured on %lld)\n",
        per, per * static_cast<double>(n), static_cast<long long>(n),
        static_cast<long long>(sample));
  }
  double cold = 0, warm = 0;
  for (int pass = 0; pass < 2; ++pass) {
    auto t0 = std::chrono::steady_clock::now();
    auto vs = r.ListVersions(g);
    Check(vs.status(), "list versions");
    (pass == 0 ? cold : warm) = Seconds(t0);
    size_t with_alias = 0;
    for (const auto& v : *vs) with_alias += !v.aliases.empty();
    std::printf("  ListVersions with the index, %s: %zu versions (%zu with an alias) in %.3f s\n",
                pass == 0 ? "first (writes missing pages)" : "warm", vs->size(), with_alias,
                pass == 0 ? cold : warm);
  }
  auto t0 = std::chrono::steady_clock::now();
  Check(r.Resolve(g + "@alias-50").status(), "resolve alias");
  const double alias_s = Seconds(t0);
  t0 = std::chrono::steady_clock::now();
  Check(r.Resolve(g + ":latest").status(), "resolve latest");
  std::printf("  resolve %s@alias-50: %.3f s; %s:latest: %.3f s\n", g.c_str(), alias_s, g.c_str(),
              Seconds(t0));
  return 0;
}
