// Small text forms several layers write: XML character escapes (S3's and AWS query-protocol
// bodies) and ISO 8601 UTC times (records, CLI tables, CloudWatch answers).
#pragma once

#include <cstdint>
#include <string>

namespace cairn {

// & < > " as XML character entities (XML 1.0, section 2.4); other bytes as they are.
std::string XmlEscape(const std::string& s);

// Milliseconds since the Unix epoch as "YYYY-MM-DDTHH:MM:SSZ" (UTC, whole seconds).
std::string Iso8601(int64_t ms);
// The same with milliseconds: "YYYY-MM-DDTHH:MM:SS.mmmZ" (as CloudWatch writes alarm times).
std::string Iso8601Ms(int64_t ms);

}  // namespace cairn
