// Local TCP ports for processes cairn starts (torch.distributed's MASTER_PORT, the cairn-serve
// instances of cairn server).
#pragma once

namespace cairn::net {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released): another
// process may take it before the caller binds it. 29500 (torch.distributed's customary port) if
// no socket could be bound.
int FreeLocalPort();

}  // namespace cairn::net
