// Private to the registry: versions as JSON manifests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "cairn/core/clock.h"
#include "cairn/registry/registry.h"

namespace cairn::registry {

using Json = nlohmann::ordered_json;

// The manifest of a version (without approval and aliases, which live beside it).
std::string ManifestToJson(const VersionInfo& v);
Result<VersionInfo> ManifestFromJson(const std::string& text, const std::string& where);

// SHA-256 over a file's chunk list: the file's digest in cairn (computed from the chunk hashes,
// so the bytes are hashed once).
std::string FileDigest(const std::vector<ChunkRef>& chunks);

std::string WhoAmI();  // user@host
using cairn::NowMs;

}  // namespace cairn::registry
