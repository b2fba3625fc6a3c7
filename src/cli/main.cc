#include <cstdlib>
#include <string>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"cairn: train, version, restore and serve model weights"};
  cairn::cli::Action action;
  std::string store;
  cairn::cli::AddAllCommands(app, &action, &store);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : cairn::cli::kExitError;
  }
  cairn::cli::SetDefaultStore(store);
  // CAIRN_PARSE_ONLY=1: check the command line and stop (tests/cli checks every documented one).
  // `serve` still hands its arguments to cairn-serve, which checks them the same way.
  if (const char* p = std::getenv("CAIRN_PARSE_ONLY");
      p && std::string(p) == "1" && !app.got_subcommand("serve"))
    return 0;
  return action ? action() : cairn::cli::kExitError;
}
