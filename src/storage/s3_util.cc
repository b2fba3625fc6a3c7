#include <ctime>

#include "s3_internal.h"

namespace cairn::s3 {
namespace {

std::string Decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    std::string ent = semi == std::string::npos ? "" : s.substr(i + 1, semi - i - 1);
    if (ent == "amp")
      out.push_back('&');
    else if (ent == "lt")
      out.push_back('<');
    else if (ent == "gt")
      out.push_back('>');
    else if (ent == "quot")
      out.push_back('"');
    else if (ent == "apos")
      out.push_back('\'');
    else if (!ent.empty() && ent[0] == '#') {
      long cp = ent[1] == 'x' ? std::strtol(ent.c_str() + 2, nullptr, 16)
                              : std::strtol(ent.c_str() + 1, nullptr, 10);
      if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
      } else {
        out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
      }
    } else {
      out.push_back('&');
      continue;
    }
    i = semi;
  }
  return out;
}

}  // namespace

std::vector<std::string> XmlAll(const std::string& xml, const std::string& tag) {
  std::vector<std::string> out;
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  for (size_t pos = 0;;) {
    size_t b = xml.find(open, pos);
    if (b == std::string::npos) break;
    size_t e = xml.find(close, b + open.size());
    if (e == std::string::npos) break;
    out.push_back(Decode(xml.substr(b + open.size(), e - b - open.size())));
    pos = e + close.size();
  }
  return out;
}

std::string XmlFirst(const std::string& xml, const std::string& tag) {
  auto all = XmlAll(xml, tag);
  return all.empty() ? "" : all[0];
}

std::string Unquote(const std::string& etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    return etag.substr(1, etag.size() - 2);
  }
  return etag;
}

int64_t ParseHttpTime(const std::string& s) {
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr) {
    tm = {};
    end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  }
  if (end == nullptr) return 0;
  int64_t ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  if (*end == '.') ms += std::strtol(end + 1, nullptr, 10) % 1000;
  return ms;
}

Status ErrorFromResponse(const net::Response& resp, const std::string& what) {
  std::string code = XmlFirst(resp.body, "Code");
  std::string message = XmlFirst(resp.body, "Message");
  std::string text = what + ": " +
                     (code.empty() ? "HTTP " + std::to_string(resp.status)
                                   : code + " (HTTP " + std::to_string(resp.status) + ")");
  if (!message.empty()) text += ": " + message;
  const long s = resp.status;
  if (s == 404) return Status::NotFound(text);
  if (s == 401 || s == 403) {
    if (code == "SignatureDoesNotMatch") text += " (check the secret key)";
    if (code == "InvalidAccessKeyId") text += " (unknown access key)";
    return Status::PermissionDenied(text);
  }
  if (s == 412) return Status::PreconditionFailed(text);
  if (s == 409 || s == 429 || s >= 500) return Status::Transient(text);
  if (s == 400 || s == 416) return Status::InvalidArgument(text);
  return Status::IOError(text);
}

}  // namespace cairn::s3
