// The whole cairn command line on one CLI::App (main.cc parses argv with it; tests/cli parses
// documented command lines with it).
#include <string>

#include "commands.h"

namespace cairn::cli {

namespace {

// Options of a group are accepted after its subcommands too (`cairn models versions G --store
// S`), and the root's --store anywhere: every command takes its options the same way.
void FallThrough(CLI::App* app) {
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_prefix_command()) continue;  // `serve` passes everything to cairn-serve
    sub->fallthrough();
    FallThrough(sub);
  }
}

}  // namespace

void AddAllCommands(CLI::App& app, Action* action, std::string* store) {
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("cairn ") + CAIRN_VERSION);
  app.add_option("--store", *store,
                 "store URI for every command (default $CAIRN_STORE, else "
                 "~/.local/share/cairn/store)");
  AddWeightsCommands(app, action);
  AddStoreCommands(app, action);
  AddModelsCommands(app, action);
  AddTrainCommands(app, action);
  AddJobsCommands(app, action);
  AddServeCommands(app, action);
  AddServerCommands(app, action);
  AddEndpointsCommands(app, action);
  FallThrough(&app);
}

}  // namespace cairn::cli
