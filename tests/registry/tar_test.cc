// ExtractTar (src/registry/tar.cc) on archives as the SageMaker SDK and tar write them, and on
// hostile ones. Archives are made with Python's tarfile (the SDK's own writer) and GNU tar.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cairn/registry/artifacts.h"
#include "test_util.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs a Python snippet with `out` bound to the archive path and `src` to a source folder.
void Python(const std::string& out, const std::string& src, const std::string& code) {
  const std::string script = out + ".py";
  std::ofstream(script) << "import os, tarfile, io\nout, src = "
                        << "'" << out << "', '" << src << "'\n"
                        << code;
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script).c_str()), 0) << code;
}

class Tar : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(src() + "/code");
    std::ofstream(src() + "/model.pth") << "weights-v1";
    std::ofstream(src() + "/code/inference.py") << "def model_fn(d): pass\n";
  }
  std::string src() const { return tmp_.File("src"); }
  std::string archive() const { return tmp_.File("a.tar.gz"); }
  // Extracts into a fresh folder; its path, or the refusal.
  Result<std::string> Extract() {
    const std::string out = tmp_.File("out" + std::to_string(++n_));
    fs::create_directories(out);
    CAIRN_RETURN_IF_ERROR(ExtractTar(archive(), out));
    return out;
  }
  testing::TempDir tmp_;
  int n_ = 0;
};

TEST_F(Tar, TheSdksRepackWithARootSlashEntry) {
  // sagemaker/utils.py _create_or_update_code_dir + repack: tar.add(tmp, arcname=os.path.sep).
  Python(archive(), src(),
         "with tarfile.open(out, 'w:gz') as t: t.add(src, arcname=os.path.sep)\n");
  auto out = Extract();
  ASSERT_OK(out.status());
  EXPECT_EQ(Slurp(*out + "/model.pth"), "weights-v1");
  EXPECT_EQ(Slurp(*out + "/code/inference.py"), "def model_fn(d): pass\n");
}

TEST_F(Tar, DotSlashNamesFromTarDashC) {
  ASSERT_EQ(std::system(("tar czf " + archive() + " -C " + src() + " .").c_str()), 0);
  auto out = Extract();
  ASSERT_OK(out.status());
  EXPECT_EQ(Slurp(*out + "/model.pth"), "weights-v1");
}

TEST_F(Tar, AMemberGivenTwiceKeepsItsLastCopyAsTarDoes) {
  const std::string plain = tmp_.File("a.tar");
  ASSERT_EQ(std::system(("tar cf " + plain + " -C " + src() + " model.pth code").c_str()), 0);
  std::ofstream(src() + "/model.pth") << "weights-v2";
  ASSERT_EQ(std::system(("tar rf " + plain + " -C " + src() + " model.pth").c_str()), 0);
  ASSERT_EQ(std::system(("gzip -c " + plain + " > " + archive()).c_str()), 0);
  auto out = Extract();
  ASSERT_OK(out.status());
  EXPECT_EQ(Slurp(*out + "/model.pth"), "weights-v2");
  // GNU tar agrees.
  const std::string by_tar = tmp_.File("by-tar");
  fs::create_directories(by_tar);
  ASSERT_EQ(std::system(("tar xzf " + archive() + " -C " + by_tar).c_str()), 0);
  EXPECT_EQ(Slurp(by_tar + "/model.pth"), Slurp(*out + "/model.pth"));
}

// Hostile members: each refused with the member named, nothing written outside.
struct Hostile {
  const char* name;
  const char* code;  // adds one member to the open tarfile `t`
  const char* named;
};

class TarHostile : public Tar, public ::testing::WithParamInterface<Hostile> {};

TEST_P(TarHostile, IsRefusedWithTheMemberNamed) {
  const Hostile& h = GetParam();
  Python(archive(), src(),
         std::string("with tarfile.open(out, 'w:gz') as t:\n"
                     "    t.add(os.path.join(src, 'model.pth'), arcname='model.pth')\n"
                     "    ") +
             h.code + "\n");
  auto out = Extract();
  ASSERT_FALSE(out.ok()) << h.name;
  EXPECT_EQ(out.status().code(), Status::Code::kUnsafe) << out.status().ToString();
  EXPECT_NE(out.status().message().find(h.named), std::string::npos) << out.status().ToString();
  EXPECT_FALSE(fs::exists(tmp_.File("evil"))) << h.name;
}

INSTANTIATE_TEST_SUITE_P(
    Members, TarHostile,
    ::testing::Values(
        Hostile{"absolute", "i = tarfile.TarInfo(out[:-8] + 'evil'); t.addfile(i, io.BytesIO())",
                "evil"},
        Hostile{"dotdot", "i = tarfile.TarInfo('code/../../evil'); t.addfile(i, io.BytesIO())",
                "../../evil"},
        Hostile{"symlink out",
                "i = tarfile.TarInfo('link'); i.type = tarfile.SYMTYPE; i.linkname = '/etc'; "
                "t.addfile(i)",
                "'link'"},
        Hostile{"hardlink",
                "i = tarfile.TarInfo('hard'); i.type = tarfile.LNKTYPE; i.linkname = "
                "'model.pth'; t.addfile(i)",
                "'hard'"},
        Hostile{"fifo", "i = tarfile.TarInfo('pipe'); i.type = tarfile.FIFOTYPE; t.addfile(i)",
                "'pipe'"}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& c : n)
        if (c == ' ') c = '_';
      return n;
    });

}  // namespace
}  // namespace cairn
