// Runs a fuzz target over saved inputs, without libFuzzer: each argument is an input file or a
// folder of them (a campaign's corpus under fuzz/corpus/<target>/, a crash turned regression).
// Built with the tests (gcc or clang, with the sanitizers when the build has them), so that every
// input a campaign kept is run again under ASan and UBSan by ctest on every change. A crash, a
// sanitizer report or a trap ends the process, as it would end libFuzzer.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    if (fs::is_directory(argv[i], ec)) {
      for (const auto& e : fs::directory_iterator(argv[i]))
        if (e.is_regular_file()) inputs.push_back(e.path());
    } else if (fs::is_regular_file(argv[i], ec)) {
      inputs.push_back(argv[i]);
    } else {
      std::fprintf(stderr, "fuzz replay: no input file or folder %s\n", argv[i]);
      return 2;
    }
  }
  if (inputs.empty()) {  // a replay of nothing would pass while testing nothing
    std::fprintf(stderr, "fuzz replay: no inputs\n");
    return 2;
  }
  std::sort(inputs.begin(), inputs.end());
  for (const auto& p : inputs) {
    std::ifstream f(p, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (!f.good() && !f.eof()) {
      std::fprintf(stderr, "fuzz replay: cannot read %s\n", p.c_str());
      return 2;
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("fuzz replay: %zu inputs, none failed\n", inputs.size());
  return 0;
}
