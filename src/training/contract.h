// Private to training: SageMaker's training contract as the sagemaker-training-toolkit applies it
// (see ../shared/notes/sagemaker-contract.md): hyperparameters decoded and turned into arguments,
// the SM_* environment, and the files under input/config/.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cairn/core/status.h"

namespace cairn::training {

using Json = nlohmann::json;

// Hyperparameters the toolkit keeps for itself (never passed to the script as arguments).
bool IsToolkitHyperparameter(const std::string& key);

// A value as the toolkit decodes it: JSON when it parses ("5" -> 5, "\"a\"" -> "a",
// "[1,2]" -> list), else the raw string.
Json DecodeHyperparameter(const std::string& raw);

// Python's str() of a decoded value, as the toolkit renders arguments: True/False, None -> "",
// 0.1, "[1, 'a']"; a dict -> "k1=v1,k2=v2" sorted by key.
std::string ArgumentValue(const Json& value);

// The script's arguments: sorted by key, "--key value" ("-k value" for one-letter keys),
// toolkit hyperparameters left out.
std::vector<std::string> HyperparameterArgs(const std::map<std::string, std::string>& raw);

// Everything one host's process needs to know.
struct HostContract {
  std::string job_name;
  std::string root;  // this host's /opt/ml
  std::string host;  // algo-1 ...
  std::vector<std::string> hosts;
  std::map<std::string, std::string> hyperparameters;  // raw, as given
  std::vector<std::string> channels;                   // names
  std::string entry_point;                             // the program's file name in code/
  std::string checkpoint_dir;                          // empty: no checkpoints configured
  int num_cpus = 1, num_gpus = 0;
  std::string master_addr = "127.0.0.1";
  std::string network_interface = "lo";  // SM_NETWORK_INTERFACE_NAME
  int master_port = 0;

  std::string Path(const std::string& rel) const { return root + "/" + rel; }
};

// Writes input/config/{hyperparameters,inputdataconfig,resourceconfig,checkpointconfig}.json.
Status WriteConfigFiles(const HostContract& c);

// The SM_* variables, TRAINING_JOB_NAME and the torch.distributed ones (MASTER_ADDR, ...).
std::map<std::string, std::string> ContractEnvironment(const HostContract& c);

}  // namespace cairn::training
