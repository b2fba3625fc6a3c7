// Fuzzes the archive extractor (src/registry/tar.cc: libarchive's tar and gzip readers under
// cairn's rules) with untrusted archives. Whatever the input, nothing may appear outside the
// extraction folder: the target checks that its parent holds only that folder (and the input).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cairn/registry/artifacts.h"

namespace fs = std::filesystem;

namespace {

fs::path g_root;  // this process's folder, removed when it exits

void RemoveRoot() {
  std::error_code ec;
  fs::remove_all(g_root, ec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool made = [] {
    g_root = fs::temp_directory_path() / ("cairn-tar-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(g_root);
    std::atexit(RemoveRoot);
    return true;
  }();
  (void)made;
  const fs::path parent = g_root / "p";
  fs::remove_all(parent);
  fs::create_directories(parent / "out");
  {
    std::ofstream f(parent / "in.tar", std::ios::binary);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  cairn::ArchiveLimits limits;
  limits.max_total_bytes = 8 << 20;
  limits.max_entries = 1000;
  (void)cairn::ExtractTar((parent / "in.tar").string(), (parent / "out").string(), limits);
  for (const auto& e : fs::directory_iterator(parent)) {
    const auto name = e.path().filename();
    if (name != "out" && name != "in.tar") __builtin_trap();  // written outside the folder
  }
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(parent / "out", ec))
    if (e.is_symlink()) __builtin_trap();  // links are refused
  return 0;
}
