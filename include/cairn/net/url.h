// URL pieces as HTTP servers receive them: percent-decoding and query / form bodies
// (application/x-www-form-urlencoded, RFC 3986 section 2.1 and the WHATWG URL standard's form
// rules: '+' is a space in forms).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::net {

// "%2F" -> "/"; with `plus_is_space`, "+" -> " " (form bodies). A '%' not followed by two hex
// digits is kept as it is.
std::string PercentDecode(std::string_view s, bool plus_is_space = false);

// "a=1&b=x%20y&c" -> {{"a","1"},{"b","x y"},{"c",""}}, in order, decoded as a form.
std::vector<std::pair<std::string, std::string>> ParseForm(std::string_view s);

}  // namespace cairn::net
