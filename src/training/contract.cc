#include "contract.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "cairn/core/file.h"

namespace cairn::training {

namespace {

std::string Upper(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

// Compact JSON with sorted keys, as the toolkit's json.dumps(sort_keys=True, separators=(",",":"))
// (nlohmann's json keeps object keys sorted).
std::string Compact(const Json& j) { return j.dump(); }

// Python's repr() of a decoded JSON value (inside lists and dicts).
std::string PyRepr(const Json& v) {
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
    const char q = dq ? '"' : '\'';
    std::string out(1, q);
    for (char ch : s) {
      if (ch == '\\' || ch == q) out += '\\';
      if (ch == '\n') {
        out += "\\n";
        continue;
      }
      out += ch;
    }
    return out + q;
  }
  if (v.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + PyRepr(v[i]);
    return out + "]";
  }
  if (v.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, x] : v.items()) {
      out += (first ? "'" : ", '") + k + "': " + PyRepr(x);
      first = false;
    }
    return out + "}";
  }
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_null()) return "None";
  return v.dump();  // numbers: shortest round-trip form, as Python's repr
}

}  // namespace

bool IsToolkitHyperparameter(const std::string& key) {
  static const std::set<std::string> kKeys = {"sagemaker_program",
                                              "sagemaker_submit_directory",
                                              "sagemaker_container_log_level",
                                              "sagemaker_job_name",
                                              "sagemaker_region",
                                              "sagemaker_s3_output",
                                              "sagemaker_enable_cloudwatch_metrics",
                                              "sagemaker_distributed_dataparallel_enabled"};
  return kKeys.count(key) > 0;
}

Json DecodeHyperparameter(const std::string& raw) {
  Json j = Json::parse(raw, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? Json(raw) : j;
}

std::string ArgumentValue(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_object()) {
    std::string out;
    for (const auto& [k, x] : v.items()) {
      if (!out.empty()) out += ",";
      out += k + "=" + (x.is_string() ? x.get<std::string>() : PyRepr(x));
    }
    return out;
  }
  return PyRepr(v);
}

std::vector<std::string> HyperparameterArgs(const std::map<std::string, std::string>& raw) {
  std::vector<std::string> args;
  for (const auto& [key, value] : raw) {  // std::map: sorted by key
    if (IsToolkitHyperparameter(key)) continue;
    args.push_back((key.size() == 1 ? "-" : "--") + key);
    args.push_back(ArgumentValue(DecodeHyperparameter(value)));
  }
  return args;
}

Status WriteConfigFiles(const HostContract& c) {
  Json hps = Json::object();
  for (const auto& [k, v] : c.hyperparameters) hps[k] = v;  // the file holds the raw strings
  Json data = Json::object();
  for (const auto& ch : c.channels) {
    data[ch] = {{"ContentType", "application/octet-stream"},
                {"TrainingInputMode", "File"},
                {"S3DistributionType", "FullyReplicated"},
                {"RecordWrapperType", "None"}};
  }
  Json resource = {{"current_host", c.host},
                   {"current_instance_type", "local"},
                   {"current_group_name", "homogeneousCluster"},
                   {"hosts", c.hosts},
                   {"instance_groups", Json::array({{{"instance_group_name", "homogeneousCluster"},
                                                     {"instance_type", "local"},
                                                     {"hosts", c.hosts}}})},
                   {"network_interface_name", "lo"}};
  CAIRN_RETURN_IF_ERROR(
      WriteFileAtomically(c.Path("input/config/hyperparameters.json"), hps.dump(2)));
  CAIRN_RETURN_IF_ERROR(
      WriteFileAtomically(c.Path("input/config/inputdataconfig.json"), data.dump(2)));
  CAIRN_RETURN_IF_ERROR(
      WriteFileAtomically(c.Path("input/config/resourceconfig.json"), resource.dump(2)));
  if (!c.checkpoint_dir.empty()) {
    CAIRN_RETURN_IF_ERROR(WriteFileAtomically(c.Path("input/config/checkpointconfig.json"),
                                              Json{{"LocalPath", c.checkpoint_dir}}.dump(2)));
  }
  return Status::OK();
}

std::map<std::string, std::string> ContractEnvironment(const HostContract& c) {
  Json hps = Json::object();
  for (const auto& [k, v] : c.hyperparameters)
    if (!IsToolkitHyperparameter(k)) hps[k] = DecodeHyperparameter(v);
  std::vector<std::string> channels = c.channels;
  std::sort(channels.begin(), channels.end());
  Json channel_dirs = Json::object();
  for (const auto& ch : channels) channel_dirs[ch] = c.Path("input/data/" + ch);
  Json input_config = Json::object();
  for (const auto& ch : channels) {
    input_config[ch] = {{"ContentType", "application/octet-stream"},
                        {"TrainingInputMode", "File"},
                        {"S3DistributionType", "FullyReplicated"},
                        {"RecordWrapperType", "None"}};
  }
  Json resource = {{"current_host", c.host}, {"hosts", c.hosts}, {"network_interface_name", "lo"}};
  const std::string module = c.entry_point.substr(0, c.entry_point.rfind('.'));
  const std::vector<std::string> args = HyperparameterArgs(c.hyperparameters);

  // The toolkit's Environment: every key becomes SM_<KEY>; strings raw, the rest compact JSON.
  Json env = {{"model_dir", c.Path("model")},
              {"input_dir", c.Path("input")},
              {"input_config_dir", c.Path("input/config")},
              {"output_dir", c.Path("output")},
              {"output_data_dir", c.Path("output/data")},
              {"output_intermediate_dir", c.Path("output/intermediate")},
              {"channels", channels},
              {"channel_input_dirs", channel_dirs},
              {"hps", hps},
              {"hyperparameters", hps},
              {"user_args", args},
              {"hosts", c.hosts},
              {"current_host", c.host},
              {"current_instance_type", "local"},
              {"current_instance_group", "homogeneousCluster"},
              {"instance_groups", Json::array({"homogeneousCluster"})},
              {"num_gpus", c.num_gpus},
              {"num_cpus", c.num_cpus},
              {"num_neurons", 0},
              {"network_interface_name", c.network_interface},
              {"resource_config", resource},
              {"input_data_config", input_config},
              {"job_name", c.job_name},
              {"module_name", module},
              {"module_dir", c.Path("code")},
              {"user_entry_point", c.entry_point},
              {"framework_module", nullptr},
              {"framework_params", Json::object()},
              {"log_level", 20},
              {"is_master", c.host == c.hosts.front()},
              {"master_hostname", c.hosts.front()}};
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : env.items())
    out["SM_" + Upper(k)] = v.is_string() ? v.get<std::string>() : Compact(v);
  out["SM_TRAINING_ENV"] = Compact(env);
  for (const auto& [k, v] : hps.items())
    out["SM_HP_" + Upper(k)] = v.is_string() ? v.get<std::string>() : Compact(v);
  for (const auto& ch : channels) out["SM_CHANNEL_" + Upper(ch)] = c.Path("input/data/" + ch);
  out["TRAINING_JOB_NAME"] = c.job_name;
  out["TRAINING_JOB_ARN"] = "arn:aws:sagemaker:local:000000000000:training-job/" + c.job_name;
  if (!c.checkpoint_dir.empty())
    out["SM_CHECKPOINT_CONFIG_FILE"] = c.Path("input/config/checkpointconfig.json");
  // torch.distributed's env:// rendezvous: one process per host.
  const auto rank = std::find(c.hosts.begin(), c.hosts.end(), c.host) - c.hosts.begin();
  out["MASTER_ADDR"] = c.master_addr;
  out["MASTER_PORT"] = std::to_string(c.master_port);
  out["WORLD_SIZE"] = std::to_string(c.hosts.size());
  out["RANK"] = std::to_string(rank);
  out["LOCAL_RANK"] = "0";
  out["LOCAL_WORLD_SIZE"] = "1";
  return out;
}

}  // namespace cairn::training
