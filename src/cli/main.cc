#include <cstdio>
#include <cstdlib>
#include <string>

#include "commands.h"

namespace {

// Options of a group are accepted after its subcommands too (`cairn models versions G --store
// S`), and the root's `--store` anywhere: every command takes its options the same way.
void FallThrough(CLI::App* app) {
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_prefix_command()) continue;  // `serve` passes everything to cairn-serve
    sub->fallthrough();
    FallThrough(sub);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cairn: train, version, restore and serve model weights"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("cairn ") + CAIRN_VERSION);
  std::string store;
  app.add_option("--store", store,
                 "store URI for every command (default $CAIRN_STORE, else "
                 "~/.local/share/cairn/store)");
  cairn::cli::Action action;
  cairn::cli::AddWeightsCommands(app, &action);
  cairn::cli::AddStoreCommands(app, &action);
  cairn::cli::AddModelsCommands(app, &action);
  cairn::cli::AddTrainCommands(app, &action);
  cairn::cli::AddJobsCommands(app, &action);
  cairn::cli::AddServeCommands(app, &action);
  cairn::cli::AddServerCommands(app, &action);
  FallThrough(&app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : cairn::cli::kExitError;
  }
  cairn::cli::SetDefaultStore(store);
  // CAIRN_PARSE_ONLY=1: check the command line and stop (tests/cli checks every documented one).
  if (const char* p = std::getenv("CAIRN_PARSE_ONLY"); p && std::string(p) == "1") return 0;
  return action ? action() : cairn::cli::kExitError;
}
