// A one-line progress bar with throughput on stderr, shown only when stderr is a terminal.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace cairn::cli {

class Progress {
 public:
  Progress(std::string label, uint64_t total)
      : label_(std::move(label)),
        total_(total),
        enabled_(::isatty(STDERR_FILENO) == 1),
        start_(std::chrono::steady_clock::now()) {}
  ~Progress() { Done(); }

  void Add(uint64_t n) {
    uint64_t done = done_ += n;
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    if (now - last_ < std::chrono::milliseconds(100) && done < total_) return;
    last_ = now;
    Print(done, now);
  }

  void Done() {
    if (!enabled_ || finished_) return;
    finished_ = true;
    std::lock_guard<std::mutex> lock(mu_);
    Print(done_, std::chrono::steady_clock::now());
    std::fputc('\n', stderr);
  }

 private:
  static std::string Mib(uint64_t n) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1f MiB", n / 1048576.0);
    return buf;
  }
  void Print(uint64_t done, std::chrono::steady_clock::time_point now) {
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? done / secs / 1048576.0 : 0;
    int width = 24,
        filled = total_ ? static_cast<int>(width * std::min<double>(1, double(done) / total_)) : 0;
    std::fprintf(stderr, "\r%s [%s%s] %s / %s  %.1f MiB/s ", label_.c_str(),
                 std::string(filled, '#').c_str(), std::string(width - filled, ' ').c_str(),
                 Mib(done).c_str(), Mib(total_).c_str(), rate);
  }

  std::string label_;
  uint64_t total_;
  bool enabled_;
  bool finished_ = false;
  std::atomic<uint64_t> done_{0};
  std::mutex mu_;
  std::chrono::steady_clock::time_point start_, last_{};
};

}  // namespace cairn::cli
