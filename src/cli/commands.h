// The cairn command line: each group of subcommands registers itself on the app.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "cairn/core/status.h"

namespace cairn::cli {

// Exit statuses of every command: 0 success, 1 "different" (diff only), 2 any error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitDifferent = 1;
inline constexpr int kExitError = 2;

// A command's body; it returns an exit status and reports errors on stderr itself.
using Action = std::function<int()>;

void AddWeightsCommands(CLI::App& app, Action* action);
void AddStoreCommands(CLI::App& app, Action* action);
void AddModelsCommands(CLI::App& app, Action* action);

// Prints "cairn: <message>" on one line of stderr and returns kExitError.
int Fail(const Status& status);

}  // namespace cairn::cli
