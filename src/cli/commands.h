// The cairn command line: each group of subcommands registers itself on the app.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cairn/core/status.h"
#include "cairn/registry/registry.h"

namespace cairn::cli {

// Exit statuses of every command: 0 success, 1 "different" (diff only), 2 any error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitDifferent = 1;
inline constexpr int kExitError = 2;

// A command's body; it returns an exit status and reports errors on stderr itself.
using Action = std::function<int()>;

// Every command, the root's --store (into *store) and --version.
void AddAllCommands(CLI::App& app, Action* action, std::string* store);
void AddWeightsCommands(CLI::App& app, Action* action);
void AddStoreCommands(CLI::App& app, Action* action);
void AddModelsCommands(CLI::App& app, Action* action);
void AddTrainCommands(CLI::App& app, Action* action);  // train, builtin
void AddJobsCommands(CLI::App& app, Action* action);
void AddServeCommands(CLI::App& app, Action* action);      // serve, predict
void AddServerCommands(CLI::App& app, Action* action);     // server (SageMaker's API)
void AddEndpointsCommands(CLI::App& app, Action* action);  // endpoints (a server's)

// Shared by the commands (common.cc).
// The store URI: `flag` when given, else the root's `cairn --store`, else $CAIRN_STORE, else
// $XDG_DATA_HOME/cairn/store (~/.local/share/cairn/store).
std::string StoreUri(const std::string& flag);
// The root's --store (main.cc sets it after parsing).
void SetDefaultStore(const std::string& uri);
// $XDG_DATA_HOME/cairn/<name> (~/.local/share/cairn/<name>).
std::string DataDir(const std::string& name);
// The registry over StoreUri(flag); remote stores get the local chunk cache
// (CAIRN_CACHE_DIR=off disables it).
Result<std::unique_ptr<Registry>> OpenRegistryAt(const std::string& flag);
// KEY=VALUE items of a repeated flag.
Result<std::map<std::string, std::string>> KeyValues(const std::vector<std::string>& items,
                                                     const char* flag);
// A program installed beside this one (cairn-algorithm, cairn-serve).
std::string SiblingProgram(const std::string& name);
// UTC, ISO 8601 to the second.
std::string Time(int64_t ms);

// Prints "cairn: <message>" on one line of stderr and returns kExitError.
int Fail(const Status& status);

}  // namespace cairn::cli
