#include <cstdio>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"cairn: train, version, restore and serve model weights"};
  app.require_subcommand(1);
  cairn::cli::Action action;
  cairn::cli::AddWeightsCommands(app, &action);
  cairn::cli::AddStoreCommands(app, &action);
  cairn::cli::AddModelsCommands(app, &action);
  cairn::cli::AddTrainCommands(app, &action);
  cairn::cli::AddJobsCommands(app, &action);
  cairn::cli::AddServeCommands(app, &action);
  cairn::cli::AddServerCommands(app, &action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : cairn::cli::kExitError;
  }
  return action ? action() : cairn::cli::kExitError;
}
