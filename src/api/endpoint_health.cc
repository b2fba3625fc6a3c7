// Endpoint instances that die are found and replaced (issue 13): a process that ended, or an
// instance its load balancer has seen DOWN for a while (a host cut off: its srun may not notice
// for minutes). The instance leaves rotation at once (HAProxy's own checks have usually taken it
// out already); a replacement is launched, on another node when Slurm places them; the fleet
// with the replacement swaps in whole, as every fleet change does.
#include <algorithm>
#include <cstdio>
#include <thread>

#include "cairn/core/clock.h"
#include "endpoint_hosts.h"

namespace cairn::api {

namespace {
constexpr int64_t kDownMs = 3000;  // DOWN this long at the load balancer: dead
constexpr size_t kMaxEvents = 20;
}  // namespace

void EndpointHosts::StartHealthChecks() {
  health_ = std::make_unique<Periodic>(std::chrono::milliseconds(1000), [this] { CheckHealth(); });
}

void EndpointHosts::Event(const std::string& endpoint, const std::string& message) {
  std::fprintf(stderr, "cairn server: endpoint %s: %s\n", endpoint.c_str(), message.c_str());
  std::lock_guard<std::mutex> lock(mu_);
  auto& list = events_[endpoint];
  list.push_back({{"Time", Seconds(NowMs())}, {"Message", message}});
  if (list.size() > kMaxEvents) list.erase(list.begin());
}

void EndpointHosts::CheckHealth() {
  std::map<std::string, std::shared_ptr<const Routing>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    live = live_;
  }
  for (const auto& [endpoint, routing] : live) {
    for (const auto& fleet : {routing->blue, routing->green}) {
      if (!fleet) continue;
      for (const auto& variant : fleet->variants) {
        std::vector<BackendState> states;
        if (variant->lb) {
          auto s = variant->lb->States();
          if (s.ok()) states = std::move(*s);
        }
        for (const auto& inst : variant->instances) {
          if (inst->dead.load()) continue;
          std::string why;
          if (inst->process->Poll()) {
            why = "instance " + inst->id + (inst->node.empty() ? "" : " on " + inst->node) +
                  " ended (" + inst->process->Describe() + ")";
          } else {
            auto st = std::find_if(states.begin(), states.end(),
                                   [&](const BackendState& b) { return b.name == inst->id; });
            if (st != states.end() && !st->up()) {
              if (inst->down_since_ms == 0) inst->down_since_ms = NowMs();
              if (NowMs() - inst->down_since_ms >= kDownMs)
                why = "instance " + inst->id + (inst->node.empty() ? "" : " on " + inst->node) +
                      " failed its health checks for " + std::to_string(kDownMs / 1000) + " s (" +
                      st->status + ")";
            } else {
              inst->down_since_ms = 0;
            }
          }
          if (why.empty() || inst->dead.exchange(true)) continue;
          if (variant->lb) (void)variant->lb->Disable(inst->id);
          Event(endpoint, why + "; taken out of rotation, replacing it");
          if (!deploys_.Enter()) return;
          std::thread([this, name = endpoint, variant, inst, why] {
            Replace(name, variant, inst, why);
            deploys_.Leave();
          }).detach();
        }
      }
    }
  }
}

void EndpointHosts::Replace(const std::string& endpoint, std::shared_ptr<const Variant> variant,
                            std::shared_ptr<Instance> dead, const std::string& why) {
  std::shared_ptr<Instance> fresh;
  for (int attempt = 0; !fresh && attempt < 5; ++attempt) {
    auto launched = LaunchInstanceSafely(
        c_, variant->spec, InstanceLogs::ForEndpoint(endpoint, variant->spec.name), Json::object(),
        [this] { return deploys_.closed(); }, dead->node);
    if (launched.ok()) {
      fresh = *launched;
    } else {
      Event(endpoint, "replacing " + dead->id + " failed: " + launched.status().message());
      if (deploys_.closed()) return;
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
  }
  if (!fresh) return;
  // A deployment in flight compares fleets by identity: the replacement waits for its end.
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = live_.find(endpoint);
      if (it == live_.end()) return;  // deleted: `fresh` stops as it goes
      if (!it->second->green) break;
    }
    if (deploys_.closed()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // The replacement takes the dead instance's place in whichever variant of the fleet serving now
  // holds it (a weight change or another replacement makes new fleets and variants), and the
  // fleet swaps in whole.
  bool swapped = false;
  std::shared_ptr<Variant> v;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(endpoint);
    if (it != live_.end() && !it->second->green) {
      const auto& blue = it->second->blue;
      for (size_t i = 0; i < blue->variants.size() && !swapped; ++i) {
        const auto& old = blue->variants[i];
        if (std::find(old->instances.begin(), old->instances.end(), dead) == old->instances.end())
          continue;
        v = std::make_shared<Variant>();
        v->spec = old->spec;
        v->lb = old->lb;
        for (const auto& inst : old->instances) v->instances.push_back(inst == dead ? fresh : inst);
        auto next = std::make_shared<Fleet>(*blue);
        next->variants[i] = v;
        auto routing = std::make_shared<Routing>();
        routing->blue = std::move(next);
        it->second = std::move(routing);
        swapped = true;
      }
    }
  }
  if (swapped) {
    if (v->lb) (void)v->lb->SetServers(v->Backends());
    Event(endpoint, "instance " + fresh->id + (fresh->node.empty() ? "" : " on " + fresh->node) +
                        " replaced " + dead->id + " and is in rotation");
  } else {
    Event(endpoint,
          "the replacement of " + dead->id + " was dropped: the endpoint changed (" + why + ")");
  }
}

}  // namespace cairn::api
