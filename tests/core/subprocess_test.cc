#include "cairn/core/subprocess.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cairn/core/file.h"
#include "test_util.h"

namespace cairn {
namespace {

using Stdio = SubprocessOptions::Stdio;

// Reads the child's output until it contains `text` (or ends).
std::string ReadUntil(Subprocess& p, const std::string& text) {
  std::string out;
  while (out.find(text) == std::string::npos && p.ReadOutput(&out))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return out;
}

std::string ReadAll(Subprocess& p) {
  std::string out;
  while (p.ReadOutput(&out)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return out;
}

TEST(Subprocess, OutputEnvironmentDirectoryAndExitStatus) {
  testing::TempDir dir;
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", "echo out; echo err >&2; echo $CAIRN_X; pwd; exit 3"};
  o.env = {{"CAIRN_X", "value"}};
  o.cwd = dir.path();
  o.stdout_mode = Stdio::kPipe;
  o.stderr_to_stdout = true;
  auto p = Subprocess::Start(o);
  ASSERT_OK(p.status());
  const std::string out = ReadAll(**p);
  EXPECT_EQ(out, "out\nerr\nvalue\n" + std::filesystem::canonical(dir.path()).string() + "\n");
  EXPECT_EQ((*p)->Wait(), 3);
  EXPECT_FALSE((*p)->signaled());
  EXPECT_EQ((*p)->Describe(), "exit status 3");
}

TEST(Subprocess, AProgramThatCannotRunExits127AndSaysWhy) {
  SubprocessOptions o;
  o.argv = {"/nonexistent/program"};
  o.stdout_mode = Stdio::kPipe;
  o.stderr_to_stdout = true;
  auto p = Subprocess::Start(o);
  ASSERT_OK(p.status());
  const std::string out = ReadAll(**p);
  EXPECT_EQ((*p)->Wait(), 127);
  EXPECT_NE(out.find("cannot execute /nonexistent/program"), std::string::npos) << out;
  EXPECT_EQ(Subprocess::Start(SubprocessOptions{}).status().code(), Status::Code::kInvalidArgument);
}

TEST(Subprocess, TheChildStartsWithACleanSignalState) {
  // Block SIGTERM and ignore SIGPIPE here, as cairn server and cairn-serve do.
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, &old);
  auto old_pipe = ::signal(SIGPIPE, SIG_IGN);
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", "grep -E '^(SigBlk|SigIgn)' /proc/self/status"};
  o.stdout_mode = Stdio::kPipe;
  auto p = Subprocess::Start(o);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::signal(SIGPIPE, old_pipe);
  ASSERT_OK(p.status());
  const std::string out = ReadAll(**p);
  EXPECT_EQ((*p)->Wait(), 0);
  EXPECT_NE(out.find("SigBlk:\t0000000000000000"), std::string::npos) << out;
  // SIGPIPE (bit 13) is not ignored.
  const size_t ign = out.find("SigIgn:\t");
  ASSERT_NE(ign, std::string::npos);
  const unsigned long long mask = std::stoull(out.substr(ign + 8, 16), nullptr, 16);
  EXPECT_EQ(mask & (1ull << (SIGPIPE - 1)), 0u) << out;
}

TEST(Subprocess, TerminateEscalatesToSigkillAfterTheGrace) {
  SubprocessOptions o;
  // Ignores SIGTERM: only SIGKILL ends it.
  o.argv = {"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"};
  o.stdout_mode = Stdio::kPipe;
  auto p = Subprocess::Start(o);
  ASSERT_OK(p.status());
  ReadUntil(**p, "ready");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ((*p)->Terminate(0.3), 128 + SIGKILL);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(took, 0.3);
  EXPECT_TRUE((*p)->signaled());
  EXPECT_EQ((*p)->Describe(), "signal 9");
}

TEST(Subprocess, TerminateLetsAProgramThatHonoursSigtermExitCleanly) {
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done"};
  o.stdout_mode = Stdio::kPipe;
  auto p = Subprocess::Start(o);
  ASSERT_OK(p.status());
  ReadUntil(**p, "ready");
  EXPECT_EQ((*p)->Terminate(10), 7);
}

TEST(Subprocess, SignalReachesTheWholeGroupAndDestructionLeavesNoProcess) {
  SubprocessOptions o;
  o.argv = {"/bin/sh", "-c", "sleep 30 & echo $!; wait"};
  o.stdout_mode = Stdio::kPipe;
  pid_t grandchild = 0;
  {
    auto p = Subprocess::Start(o);
    ASSERT_OK(p.status());
    grandchild = std::stoi(ReadUntil(**p, "\n"));
    EXPECT_EQ(::kill(grandchild, 0), 0);
  }  // destroyed while running: SIGKILL to the group, reaped
  // Dead once gone or a zombie (its new parent, init, reaps it in its own time).
  auto alive = [&] {
    auto stat = ReadFileToString("/proc/" + std::to_string(grandchild) + "/stat");
    return stat.ok() && stat->find(") Z ") == std::string::npos;
  };
  for (int i = 0; i < 500 && alive(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(alive()) << "the group's other process outlived its Subprocess";
}

TEST(Subprocess, AChildOutlivesTheThreadThatStartedIt) {
  // PR_SET_PDEATHSIG fires when the forking thread ends: Subprocess forks from a thread of its
  // own, so a child started from a short-lived thread keeps running.
  std::unique_ptr<Subprocess> p;
  std::thread([&] {
    SubprocessOptions o;
    o.argv = {"/bin/sleep", "5"};
    auto r = Subprocess::Start(o);
    ASSERT_OK(r.status());
    p = std::move(*r);
  }).join();
  ASSERT_TRUE(p);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(p->Poll().has_value()) << "the child died with the thread that started it";
  EXPECT_EQ(p->Terminate(5), 128 + SIGTERM);
}

TEST(Subprocess, StdinPipe) {
  SubprocessOptions o;
  o.argv = {"/bin/cat"};
  o.stdin_mode = Stdio::kPipe;
  o.stdout_mode = Stdio::kPipe;
  o.new_process_group = false;
  auto p = Subprocess::Start(o);
  ASSERT_OK(p.status());
  ASSERT_EQ(::write((*p)->stdin_fd(), "hello", 5), 5);
  (*p)->CloseStdin();
  EXPECT_EQ(ReadAll(**p), "hello");
  EXPECT_EQ((*p)->Wait(), 0);
}

}  // namespace
}  // namespace cairn
