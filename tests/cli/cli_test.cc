// The cairn command line (src/cli): the same options everywhere, documented commands that parse,
// and the helpers every command shares.
#include <cstdlib>
#include <optional>

#include "cli/commands.h"
#include "test_util.h"

namespace cairn::cli {
namespace {

// Parses argv (without the program name) as cairn would; the error message, or "".
struct Parsed {
  std::string error;
  std::string store;
  bool has_action = false;
};
Parsed Parse(std::vector<std::string> args) {
  CLI::App app{"cairn"};
  Action action;
  Parsed out;
  AddAllCommands(app, &action, &out.store);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    out.error = e.what();
    if (out.error.empty()) out.error = e.get_name();
  }
  out.has_action = static_cast<bool>(action);
  return out;
}

TEST(Cli, StoreIsAcceptedBeforeOrAfterAnySubcommand) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"--store", "/s", "models", "versions", "g"},
                                             {"models", "--store", "/s", "versions", "g"},
                                             {"models", "versions", "g", "--store", "/s"},
                                             {"jobs", "list", "--store", "/s"},
                                             {"--store", "/s", "jobs", "list"},
                                             {"train", "x.py", "--store", "/s"},
                                             {"--store", "/s", "train", "x.py"},
                                             {"server", "--store", "/s"}}) {
    const Parsed p = Parse(args);
    EXPECT_EQ(p.error, "") << args[0] << " " << args[1];
    EXPECT_TRUE(p.has_action);
  }
}

TEST(Cli, JsonOnEveryListAndDescribe) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"models", "list", "--json"},
                                             {"models", "versions", "g", "--json"},
                                             {"models", "describe", "g:1", "--json"},
                                             {"jobs", "list", "--json"},
                                             {"jobs", "describe", "j", "--json"},
                                             {"ls", "s3://b/p", "--json"},
                                             {"weights", "inspect", "m.pth", "--json"}})
    EXPECT_EQ(Parse(args).error, "") << args[0] << " " << args[1];
}

TEST(Cli, EntryPointAsFlagOrPositionalButNotBoth) {
  EXPECT_EQ(Parse({"train", "--entry-point", "train.py"}).error, "");
  EXPECT_EQ(Parse({"train", "train.py"}).error, "");
  EXPECT_NE(Parse({"train", "a.py", "--entry-point", "b.py"}).error, "");
  EXPECT_EQ(Parse({"server", "--image", "my-image=script"}).error, "");
}

TEST(Cli, UnknownCommandsAndOptionsAreErrors) {
  EXPECT_NE(Parse({"modles", "list"}).error, "");
  EXPECT_NE(Parse({"models", "list", "--no-such-flag"}).error, "");
  EXPECT_NE(Parse({}).error, "");             // a subcommand is required
  EXPECT_NE(Parse({"--version"}).error, "");  // CLI11 reports --version as a "success" exit
}

// Sets environment variables for one test and puts the old values back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? ::setenv(name, value, 1) : ::unsetenv(name);
  }
  ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(Cli, StoreUriPrecedence) {
  ScopedEnv store("CAIRN_STORE", "/from-env"), xdg("XDG_DATA_HOME", nullptr);
  SetDefaultStore("");
  EXPECT_EQ(StoreUri(""), "/from-env");
  SetDefaultStore("/from-root-flag");
  EXPECT_EQ(StoreUri(""), "/from-root-flag");
  EXPECT_EQ(StoreUri("/from-flag"), "/from-flag");
  SetDefaultStore("");
  ScopedEnv no_store("CAIRN_STORE", nullptr), xdg2("XDG_DATA_HOME", "/xdg");
  EXPECT_EQ(StoreUri(""), "/xdg/cairn/store");
}

TEST(Cli, KeyValues) {
  auto kv = KeyValues({"a=1", "b=x=y", "c="}, "--tag");
  ASSERT_OK(kv.status());
  EXPECT_EQ(kv->at("a"), "1");
  EXPECT_EQ(kv->at("b"), "x=y");
  EXPECT_EQ(kv->at("c"), "");
  auto bad = KeyValues({"novalue"}, "--tag");
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("--tag"), std::string::npos);
  EXPECT_FALSE(KeyValues({"=v"}, "--tag").ok());
  EXPECT_EQ(Time(0), "1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace cairn::cli
