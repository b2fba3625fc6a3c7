// cairn models ...: the model registry on the command line.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cairn/registry/artifacts.h"
#include "cairn/registry/registry.h"
#include "commands.h"
#include "progress.h"

namespace cairn::cli {
namespace {

using Json = nlohmann::ordered_json;

struct Args {
  std::string store, a, b, c, description;
  std::vector<std::string> metrics, tags;
  bool json = false, reject = false, dry_run = false, break_stale_locks = false;
};

Result<std::unique_ptr<Registry>> OpenRegistry(const Args& args) {
  return OpenRegistryAt(args.store);
}

Json ToJson(const VersionInfo& v, bool files) {
  Json j{{"ref", v.ref()},
         {"group", v.group},
         {"version", v.version},
         {"created", Time(v.created_ms)},
         {"created_by", v.created_by},
         {"approval", ApprovalName(v.approval)},
         {"aliases", v.aliases},
         {"size", v.total_size()},
         {"description", v.description},
         {"metrics", v.metrics},
         {"tags", v.tags},
         {"lineage", v.lineage}};
  if (files) {
    Json fl = Json::array();
    for (const auto& f : v.files) {
      fl.push_back({{"path", f.path},
                    {"size", f.size},
                    {"mode", f.mode},
                    {"digest", f.sha256},
                    {"chunks", f.chunks.size()}});
    }
    j["files"] = std::move(fl);
  }
  return j;
}

void Print(const Json& j) { std::printf("%s\n", j.dump(2).c_str()); }

int Done(const Status& st) { return st.ok() ? kExitOk : Fail(st); }

int List(const Args& args) {
  auto r = OpenRegistry(args);
  if (!r.ok()) return Fail(r.status());
  auto groups = (*r)->ListGroups();
  if (!groups.ok()) return Fail(groups.status());
  Json out = Json::array();
  for (const auto& g : *groups) {
    auto latest = (*r)->Resolve(g + ":latest");
    if (!latest.ok()) return Fail(latest.status());
    out.push_back(
        {{"group", g}, {"latest", latest->version}, {"updated", Time(latest->created_ms)}});
  }
  if (args.json) {
    Print(out);
  } else {
    for (const auto& g : out) {
      std::printf("%-32s latest %-6lld %s\n", g["group"].get<std::string>().c_str(),
                  static_cast<long long>(g["latest"].get<int64_t>()),
                  g["updated"].get<std::string>().c_str());
    }
  }
  return kExitOk;
}

int Versions(const Args& args) {
  auto r = OpenRegistry(args);
  if (!r.ok()) return Fail(r.status());
  auto versions = (*r)->ListVersions(args.a);
  if (!versions.ok()) return Fail(versions.status());
  if (versions->empty())  // a group exists once it has a version
    return Fail(Status::NotFound("no model group '" + args.a + "' in " + StoreUri(args.store) +
                                 " (cairn models list shows the groups)"));
  if (args.json) {
    Json out = Json::array();
    for (const auto& v : *versions) out.push_back(ToJson(v, false));
    Print(out);
    return kExitOk;
  }
  std::printf("%-8s %-20s %-22s %12s  %s\n", "VERSION", "CREATED", "APPROVAL", "SIZE", "ALIASES");
  for (const auto& v : *versions) {
    std::string aliases;
    for (const auto& a : v.aliases) aliases += (aliases.empty() ? "" : ",") + a;
    std::printf("%-8lld %-20s %-22s %12llu  %s\n", static_cast<long long>(v.version),
                Time(v.created_ms).c_str(), std::string(ApprovalName(v.approval)).c_str(),
                static_cast<unsigned long long>(v.total_size()), aliases.c_str());
  }
  return kExitOk;
}

int Describe(const Args& args) {
  auto r = OpenRegistry(args);
  if (!r.ok()) return Fail(r.status());
  auto v = (*r)->Resolve(args.a);
  if (!v.ok()) return Fail(v.status());
  Print(ToJson(*v, true));  // readable as it is; --json gives the same
  return kExitOk;
}

int Publish(const Args& args) {
  auto r = OpenRegistry(args);
  if (!r.ok()) return Fail(r.status());
  PublishOptions opts;
  opts.description = args.description;
  auto metrics = KeyValues(args.metrics, "--metric");
  if (!metrics.ok()) return Fail(metrics.status());
  auto tags = KeyValues(args.tags, "--tag");
  if (!tags.ok()) return Fail(tags.status());
  opts.metrics = *metrics;
  opts.tags = *tags;
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(args.b, ec);
       !ec && it != std::filesystem::end(it); it.increment(ec)) {
    if (it->is_regular_file()) total += it->file_size();
  }
  Progress bar("publish " + args.a, total);
  opts.progress = [&](uint64_t n) { bar.Add(n); };
  PublishStats stats;
  auto v = (*r)->Publish(args.a, args.b, opts, &stats);
  bar.Done();
  if (!v.ok()) return Fail(v.status());
  if (args.json) {
    Print({{"ref", v->ref()},
           {"files", stats.files},
           {"bytes", stats.bytes},
           {"chunks", stats.chunks},
           {"new_chunks", stats.new_chunks},
           {"new_bytes", stats.new_bytes}});
  } else {
    std::printf("%s\n", v->ref().c_str());
    std::fprintf(stderr, "published %llu files, %llu bytes (%llu new in %llu of %llu chunks)\n",
                 static_cast<unsigned long long>(stats.files),
                 static_cast<unsigned long long>(stats.bytes),
                 static_cast<unsigned long long>(stats.new_bytes),
                 static_cast<unsigned long long>(stats.new_chunks),
                 static_cast<unsigned long long>(stats.chunks));
  }
  return kExitOk;
}

int Restore(const Args& args) {
  auto r = OpenRegistry(args);
  if (!r.ok()) return Fail(r.status());
  auto version = (*r)->Resolve(args.a);
  if (!version.ok()) return Fail(version.status());
  Progress bar("restore " + version->ref(), version->total_size());
  auto v = (*r)->Restore(version->ref(), args.b, [&](uint64_t n) { bar.Add(n); });
  bar.Done();
  if (!v.ok()) return Fail(v.status());
  std::fprintf(stderr, "restored %s into %s\n", v->ref().c_str(), args.b.c_str());
  return kExitOk;
}

int Alias(const Args& args) {
  auto r = OpenRegistry(args);
  if (!r.ok()) return Fail(r.status());
  char* end = nullptr;
  long long version = std::strtoll(args.c.c_str(), &end, 10);
  if (args.c.empty() || *end != '\0' || version <= 0) {
    return Fail(Status::InvalidArgument("VERSION must be a version number, got '" + args.c + "'"));
  }
  Status st = (*r)->SetAlias(args.a, args.b, version);
  if (st.ok()) std::printf("%s@%s -> %lld\n", args.a.c_str(), args.b.c_str(), version);
  return Done(st);
}

int Rollback(const Args& args) {
  auto r = OpenRegistry(args);
  if (!r.ok()) return Fail(r.status());
  auto v = (*r)->Rollback(args.a, args.b);
  if (!v.ok()) return Fail(v.status());
  std::printf("%s@%s -> %lld\n", args.a.c_str(), args.b.c_str(), static_cast<long long>(*v));
  return kExitOk;
}

int Approve(const Args& args) {
  auto r = OpenRegistry(args);
  if (!r.ok()) return Fail(r.status());
  const Approval approval = args.reject ? Approval::kRejected : Approval::kApproved;
  Status st = (*r)->SetApproval(args.a, approval);
  if (st.ok()) std::printf("%s %s\n", args.a.c_str(), std::string(ApprovalName(approval)).c_str());
  return Done(st);
}

int Verify(const Args& args) {
  auto r = OpenRegistry(args);
  if (!r.ok()) return Fail(r.status());
  auto report = (*r)->Verify(args.a);
  if (!report.ok()) return Fail(report.status());
  if (args.json) {
    Print({{"versions", report->versions},
           {"chunks", report->chunks},
           {"bytes", report->bytes},
           {"problems", report->problems}});
  } else {
    for (const auto& p : report->problems) std::printf("%s\n", p.c_str());
    std::printf("%s: %llu versions, %llu chunks, %llu bytes checked, %zu problems\n",
                report->problems.empty() ? "ok" : "PROBLEMS",
                static_cast<unsigned long long>(report->versions),
                static_cast<unsigned long long>(report->chunks),
                static_cast<unsigned long long>(report->bytes), report->problems.size());
  }
  return report->problems.empty() ? kExitOk : kExitDifferent;
}

int Diff(const Args& args) {
  auto r = OpenRegistry(args);
  if (!r.ok()) return Fail(r.status());
  auto diffs = (*r)->Diff(args.a, args.b);
  if (!diffs.ok()) return Fail(diffs.status());
  auto tag = [](auto kind, auto added, auto removed) {
    return kind == added ? "+" : kind == removed ? "-" : "~";
  };
  if (args.json) {
    Json out = Json::array();
    for (const auto& d : *diffs) {
      Json tensors = Json::array();
      for (const auto& t : d.tensors) {
        tensors.push_back(
            {{"change", tag(t.kind, TensorDiff::Kind::kAdded, TensorDiff::Kind::kRemoved)},
             {"name", t.name},
             {"detail", t.detail}});
      }
      out.push_back({{"change", tag(d.kind, FileDiff::Kind::kAdded, FileDiff::Kind::kRemoved)},
                     {"path", d.path},
                     {"tensors", std::move(tensors)}});
    }
    Print(out);
  } else {
    for (const auto& d : *diffs) {
      std::printf("%s %s\n", tag(d.kind, FileDiff::Kind::kAdded, FileDiff::Kind::kRemoved),
                  d.path.c_str());
      for (const auto& t : d.tensors) {
        std::printf("    %s %s%s%s\n",
                    tag(t.kind, TensorDiff::Kind::kAdded, TensorDiff::Kind::kRemoved),
                    t.name.c_str(), t.detail.empty() ? "" : "  ", t.detail.c_str());
      }
    }
    if (diffs->empty()) std::printf("identical\n");
  }
  return diffs->empty() ? kExitOk : kExitDifferent;
}

int Export(const Args& args) {
  auto r = OpenRegistry(args);
  if (!r.ok()) return Fail(r.status());
  Status st = ExportVersion(**r, args.a, args.b);
  if (st.ok()) std::fprintf(stderr, "exported %s to %s\n", args.a.c_str(), args.b.c_str());
  return Done(st);
}

int Import(const Args& args) {
  auto r = OpenRegistry(args);
  if (!r.ok()) return Fail(r.status());
  auto v = ImportVersion(**r, args.a, args.b);
  if (!v.ok()) return Fail(v.status());
  std::printf("%s\n", v->ref().c_str());
  return kExitOk;
}

int Gc(const Args& args) {
  auto r = OpenRegistry(args);
  if (!r.ok()) return Fail(r.status());
  if (args.break_stale_locks) {
    auto broken = (*r)->BreakStaleLocks();
    if (!broken.ok()) return Fail(broken.status());
    for (const auto& b : *broken) std::fprintf(stderr, "cairn: broke stale lock %s\n", b.c_str());
  }
  auto report = (*r)->CollectGarbage(args.dry_run);
  if (!report.ok()) return Fail(report.status());
  if (args.json) {
    Print({{"referenced", report->referenced},
           {"deleted", report->deleted},
           {"deleted_bytes", report->deleted_bytes},
           {"space_kept_as_versions", report->space_kept_as_versions},
           {"dry_run", args.dry_run}});
  } else {
    std::printf("%s %llu unreferenced chunks (%llu bytes); %llu chunks in use\n",
                args.dry_run ? "would delete" : "deleted",
                static_cast<unsigned long long>(report->deleted),
                static_cast<unsigned long long>(report->deleted_bytes),
                static_cast<unsigned long long>(report->referenced));
  }
  if (report->space_kept_as_versions && report->deleted > 0)
    std::fprintf(stderr,
                 "cairn: this bucket keeps deleted objects as noncurrent versions: the space comes "
                 "back only through its lifecycle rule (NoncurrentVersionExpiration)\n");
  return kExitOk;
}

}  // namespace

void AddModelsCommands(CLI::App& app, Action* action) {
  auto args = std::make_shared<Args>();
  auto* models = app.add_subcommand("models", "The model registry: versions, aliases, restore");
  models->require_subcommand(1);
  models->add_option("--store", args->store,
                     "store URI (default $CAIRN_STORE, else ~/.local/share/cairn/store)");
  auto sub = [&](const char* name, const char* help, int (*fn)(const Args&)) {
    auto* c = models->add_subcommand(name, help);
    c->callback([=] { *action = [=] { return fn(*args); }; });
    return c;
  };
  sub("list", "List model groups", List)->add_flag("--json", args->json, "print JSON");
  auto* versions = sub("versions", "List the versions of a group", Versions);
  versions->add_option("GROUP", args->a)->required();
  versions->add_flag("--json", args->json, "print JSON");
  auto* describe = sub("describe", "Show a version (JSON)", Describe);
  describe->add_option("REF", args->a, "GROUP:VERSION, GROUP:latest or GROUP@ALIAS")->required();
  describe->add_flag("--json", args->json, "print JSON (the default)");
  auto* publish = sub("publish", "Publish a directory as a new version; prints its ref", Publish);
  publish->add_option("GROUP", args->a)->required();
  publish->add_option("DIR", args->b)->required();
  publish->add_option("--metric", args->metrics, "KEY=VALUE (repeatable)");
  publish->add_option("--tag", args->tags, "KEY=VALUE (repeatable)");
  publish->add_option("--description", args->description);
  publish->add_flag("--json", args->json, "print JSON with transfer statistics");
  auto* restore = sub("restore", "Restore a version into a new directory, verified", Restore);
  restore->add_option("REF", args->a)->required();
  restore->add_option("DIR", args->b)->required();
  auto* alias = sub("alias", "Point an alias at a version", Alias);
  alias->add_option("GROUP", args->a)->required();
  alias->add_option("NAME", args->b)->required();
  alias->add_option("VERSION", args->c)->required();
  auto* rollback = sub("rollback", "Move an alias back to its previous version", Rollback);
  rollback->add_option("GROUP", args->a)->required();
  rollback->add_option("ALIAS", args->b)->required();
  auto* diff =
      sub("diff", "Files and tensors that differ between two versions (exit 1 if any)", Diff);
  diff->add_option("A", args->a, "first version")->required();
  diff->add_option("B", args->b, "second version")->required();
  diff->add_flag("--json", args->json, "print JSON");
  auto* exp =
      sub("export", "Write a version as model.tar.gz (URI ending .tar.gz) or a prefix", Export);
  exp->add_option("REF", args->a)->required();
  exp->add_option("URI", args->b, "path or s3:// URI")->required();
  auto* imp =
      sub("import", "Publish a model.tar.gz or an uncompressed prefix as a new version", Import);
  imp->add_option("GROUP", args->a)->required();
  imp->add_option("URI", args->b, "path or s3:// URI of model.tar.gz or of a prefix")->required();
  auto* gc = sub("gc", "Delete chunks no version references (safe during publishes)", Gc);
  gc->add_flag("--dry-run", args->dry_run, "only report what would be deleted");
  gc->add_flag("--break-stale-locks", args->break_stale_locks,
               "first delete locks of crashed publishers (expired, heartbeat stopped, process "
               "gone); a gc ignores them anyway, this removes them");
  gc->add_flag("--json", args->json, "print JSON");
  auto* verify = sub("verify", "Check every chunk of every version (exit 1 on problems)", Verify);
  verify->add_option("GROUP", args->a, "only this group");
  verify->add_flag("--json", args->json, "print JSON");
  auto* approve = sub("approve", "Mark a version Approved (or Rejected)", Approve);
  approve->add_option("REF", args->a)->required();
  approve->add_flag("--reject", args->reject, "mark it Rejected");
}

}  // namespace cairn::cli
