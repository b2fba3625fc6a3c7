// Who and where this process is, and whether another process on this host still runs: what a
// lock object in the store records about its holder so that a crashed holder can be recognised
// (src/registry/locks.cc).
#pragma once

#include <cstdint>
#include <string>

namespace cairn {

// gethostname(2); "unknown" if it fails.
std::string HostName();
// This boot of the kernel: /proc/sys/kernel/random/boot_id (random(4)); "" if unreadable. Two
// equal boot ids on one host mean no reboot in between, so a pid still names the same process
// space.
std::string BootId();
// getpid(2).
int64_t CurrentPid();
// Whether a process `pid` exists on this host now: kill(pid, 0) succeeds or fails with EPERM
// (kill(2)). A pid reused by another process counts as alive (the safe answer for locks).
bool ProcessAlive(int64_t pid);

// The network interface that carries `ipv4` (an address of this host, dotted quad), by
// getifaddrs(3); else the first interface that is up, not loopback and has an IPv4 address;
// else "lo". What SM_NETWORK_INTERFACE_NAME names for a host of a training job.
std::string InterfaceFor(const std::string& ipv4);

}  // namespace cairn
