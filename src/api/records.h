// Private to api: the records of cairn server's SageMaker resources (models, endpoint
// configurations, endpoints, model package groups), one JSON object each in the store at
// layout::ResourceKey(kind, name). As JobStore is for training jobs: every read and write of
// these records goes through RecordStore, and none is ignored.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cairn/core/status.h"
#include "cairn/registry/layout.h"
#include "cairn/storage/object_store.h"

namespace cairn::api {

using Json = nlohmann::json;

// EndpointStatus as SageMaker names it (DescribeEndpoint's EndpointStatus).
enum class EndpointStatus { kCreating, kUpdating, kInService, kFailed, kDeleting, kRollingBack };
const char* EndpointStatusName(EndpointStatus s);
Result<EndpointStatus> ParseEndpointStatus(const std::string& name);

// CreateModel: the registry version it serves and the container it was given.
struct ModelRecord {
  static constexpr const char* kKind = "models";
  std::string name;
  std::string ref;    // the registry version, "group:n"
  std::string image;  // as given
  Json environment = Json::object();
  std::string role;
  int64_t created_ms = 0;
  Json ToJson() const;
  static Result<ModelRecord> FromJson(const Json& j);
};

// CreateEndpointConfig: its production variants, as given.
struct EndpointConfigRecord {
  static constexpr const char* kKind = "endpoint-configs";
  std::string name;
  Json variants = Json::array();
  int64_t created_ms = 0;
  Json ToJson() const;
  static Result<EndpointConfigRecord> FromJson(const Json& j);
};

// CreateEndpoint / UpdateEndpoint: the configuration served, the one being deployed, the status
// and why it failed.
struct EndpointRecord {
  static constexpr const char* kKind = "endpoints";
  std::string name;
  std::string config;           // the configuration in service (or being created)
  std::string pending_config;   // UpdateEndpoint's target while Updating, else ""
  std::string previous_config;  // the configuration served before the last completed update
  EndpointStatus status = EndpointStatus::kCreating;
  std::string failure;  // FailureReason: why the last create or update failed
  // UpdateEndpointWeightsAndCapacities' desired values over the configuration's, by VariantName
  // ({"weight": w, "count": n}); cleared when another configuration is deployed.
  Json desired = Json::object();
  // UpdateEndpoint's DeploymentConfig: of the update in flight, then of the last one
  // (DescribeEndpoint's LastDeploymentConfig); null if none was given.
  Json deployment;
  int64_t created_ms = 0, modified_ms = 0;
  Json ToJson() const;
  static Result<EndpointRecord> FromJson(const Json& j);
};

// CreateModelPackageGroup: a registry group's SageMaker description.
struct ModelPackageGroupRecord {
  static constexpr const char* kKind = "model-package-groups";
  std::string name, description;
  int64_t created_ms = 0;
  Json ToJson() const;
  static Result<ModelPackageGroupRecord> FromJson(const Json& j);
};

// Records of one kind R (one of the structs above). Errors: kNotFound (no such record),
// kAlreadyExists (Create of a name taken, by this or any other server: the write is
// create-if-absent, so of racing creates exactly one wins), kCorrupt (a record that does not
// parse), and the store's own.
template <class R>
class RecordStore {
 public:
  explicit RecordStore(ObjectStore& store) : store_(store) {}

  Status Create(const R& r) {
    auto put = PutString(store_, Key(r.name), Dump(r), PutOptions::IfAbsent());
    if (put.status().code() == Status::Code::kPreconditionFailed ||
        put.status().code() == Status::Code::kAlreadyExists)
      return Status::AlreadyExists(std::string(R::kKind) + "/" + r.name + " exists");
    return put.status();
  }
  // Replaces the record (or writes it anew).
  Status Put(const R& r) { return PutString(store_, Key(r.name), Dump(r)).status(); }
  // Bytes that are not UTF-8 (a model's error text cut mid-character) become U+FFFD.
  static std::string Dump(const R& r) {
    return r.ToJson().dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  Result<R> Get(const std::string& name) {
    CAIRN_ASSIGN_OR_RETURN(std::string text, GetString(store_, Key(name)));
    Json j = Json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return Status::Corrupt(Key(name) + " is not a JSON object");
    return R::FromJson(j);
  }
  bool Exists(const std::string& name) { return store_.Head(Key(name)).ok(); }
  Status Delete(const std::string& name) { return store_.Delete(Key(name)); }
  // Every record's name, sorted.
  Result<std::vector<std::string>> ListNames() {
    CAIRN_ASSIGN_OR_RETURN(auto objects, store_.List(layout::ResourcesPrefix(R::kKind)));
    std::vector<std::string> names;
    for (const auto& o : objects)
      if (auto n = layout::JsonNameAfter(o.key, layout::ResourcesPrefix(R::kKind)))
        names.push_back(*n);
    return names;
  }
  // Every record that reads back. One deleted between the list and the read is skipped, and so
  // is a damaged one (kCorrupt), so that it does not hide the others; `skipped` (if given) gets
  // the damaged ones' errors. Other errors (the store's) are returned.
  Result<std::vector<R>> List(std::vector<Status>* skipped = nullptr) {
    CAIRN_ASSIGN_OR_RETURN(auto names, ListNames());
    std::vector<R> out;
    for (const auto& n : names) {
      auto r = Get(n);
      if (r.ok()) {
        out.push_back(std::move(*r));
      } else if (r.status().code() == Status::Code::kCorrupt) {
        if (skipped) skipped->push_back(r.status());
      } else if (r.status().code() != Status::Code::kNotFound) {
        return r.status();
      }
    }
    return out;
  }

 private:
  static std::string Key(const std::string& name) { return layout::ResourceKey(R::kKind, name); }
  ObjectStore& store_;
};

}  // namespace cairn::api
