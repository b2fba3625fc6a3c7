#include "codec.h"

#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

namespace cairn::serving {

namespace {

using Json = nlohmann::json;

Status FromJson(const Json& j, size_t depth, Array* a) {
  if (j.is_number()) {
    if (depth != a->shape.size()) return Status::InvalidArgument("ragged JSON array");
    a->values.push_back(j.get<float>());
    return Status::OK();
  }
  if (!j.is_array()) return Status::InvalidArgument("JSON body must be numbers in (nested) lists");
  if (depth == a->shape.size()) {
    if (!a->values.empty()) return Status::InvalidArgument("ragged JSON array");
    a->shape.push_back(static_cast<int64_t>(j.size()));
  } else if (depth > a->shape.size() || a->shape[depth] != static_cast<int64_t>(j.size())) {
    return Status::InvalidArgument("ragged JSON array");
  }
  for (const auto& x : j) CAIRN_RETURN_IF_ERROR(FromJson(x, depth + 1, a));
  return Status::OK();
}

Json ToJson(const Array& a, size_t dim, size_t* pos) {
  if (dim == a.shape.size()) return a.values[(*pos)++];
  Json out = Json::array();
  for (int64_t i = 0; i < a.shape[dim]; ++i) out.push_back(ToJson(a, dim + 1, pos));
  return out;
}

Result<Array> DecodeNpy(const std::string& b) {
  if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0)
    return Status::InvalidArgument("not an .npy file");
  const int major = static_cast<uint8_t>(b[6]);
  size_t hlen, off;
  if (major == 1) {
    hlen = static_cast<uint8_t>(b[8]) | (static_cast<uint8_t>(b[9]) << 8);
    off = 10;
  } else {
    if (b.size() < 12) return Status::InvalidArgument("truncated .npy header");
    uint32_t l;
    std::memcpy(&l, b.data() + 8, 4);
    hlen = l;
    off = 12;
  }
  if (off + hlen > b.size()) return Status::InvalidArgument("truncated .npy header");
  const std::string h = b.substr(off, hlen);
  auto field = [&](const std::string& key) -> std::string {
    size_t k = h.find("'" + key + "'");
    if (k == std::string::npos) return "";
    size_t c = h.find(':', k);
    return c == std::string::npos ? "" : h.substr(c + 1);
  };
  const std::string descr = field("descr"), fortran = field("fortran_order"),
                    shape = field("shape");
  if (fortran.find("False") == std::string::npos && fortran.find("True") != std::string::npos)
    return Status::InvalidArgument(".npy in Fortran order is not supported");
  size_t q1 = descr.find('\''), q2 = descr.find('\'', q1 + 1);
  if (q1 == std::string::npos || q2 == std::string::npos)
    return Status::InvalidArgument("bad .npy descr");
  const std::string type = descr.substr(q1 + 1, q2 - q1 - 1);
  Array a;
  size_t p1 = shape.find('('), p2 = shape.find(')');
  if (p1 == std::string::npos || p2 == std::string::npos || p2 < p1)
    return Status::InvalidArgument("bad .npy shape");
  std::stringstream dims(shape.substr(p1 + 1, p2 - p1 - 1));
  std::string d;
  int64_t n = 1;
  while (std::getline(dims, d, ',')) {
    const size_t first = d.find_first_not_of(' '), last = d.find_last_not_of(' ');
    if (first == std::string::npos) continue;
    d = d.substr(first, last - first + 1);
    int64_t v = 0;
    auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
    if (ec != std::errc() || end != d.data() + d.size() || v < 0 ||
        (v > 0 && n > (int64_t{1} << 40) / v)) {
      return Status::InvalidArgument("bad .npy shape");
    }
    a.shape.push_back(v);
    n *= v;
  }
  const char* data = b.data() + off + hlen;
  const size_t avail = b.size() - off - hlen;
  auto take = [&](size_t width, auto convert) -> Status {
    if (avail != static_cast<size_t>(n) * width)
      return Status::InvalidArgument(".npy data size does not match its shape");
    a.values.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) a.values[i] = convert(data + i * width);
    return Status::OK();
  };
  Status st;
  if (type == "<f4") {
    st = take(4, [](const char* p) {
      float v;
      std::memcpy(&v, p, 4);
      return v;
    });
  } else if (type == "<f8") {
    st = take(8, [](const char* p) {
      double v;
      std::memcpy(&v, p, 8);
      return static_cast<float>(v);
    });
  } else if (type == "<i8") {
    st = take(8, [](const char* p) {
      int64_t v;
      std::memcpy(&v, p, 8);
      return static_cast<float>(v);
    });
  } else if (type == "<i4") {
    st = take(4, [](const char* p) {
      int32_t v;
      std::memcpy(&v, p, 4);
      return static_cast<float>(v);
    });
  } else {
    return Status::InvalidArgument(".npy dtype " + type + " is not supported (<f4 <f8 <i8 <i4)");
  }
  CAIRN_RETURN_IF_ERROR(st);
  return a;
}

std::string EncodeNpy(const Array& a) {
  std::string shape = "(";
  for (size_t i = 0; i < a.shape.size(); ++i)
    shape += std::to_string(a.shape[i]) + (a.shape.size() == 1      ? ","
                                           : i + 1 < a.shape.size() ? ", "
                                                                    : "");
  shape += ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(reinterpret_cast<const char*>(a.values.data()), a.values.size() * 4);
  return out;
}

}  // namespace

Result<Array> DecodeBody(const std::string& body, const std::string& content_type) {
  const std::string ct = content_type.empty() ? "application/json" : content_type;
  if (ct == "application/json") {
    Json j = Json::parse(body, nullptr, false);
    if (j.is_discarded()) return Status::InvalidArgument("the body is not valid JSON");
    Array a;
    CAIRN_RETURN_IF_ERROR(FromJson(j, 0, &a));
    int64_t n = 1;
    for (int64_t d : a.shape) n *= d;
    if (n != static_cast<int64_t>(a.values.size()))
      return Status::InvalidArgument("ragged JSON array");
    return a;
  }
  if (ct == "text/csv") {
    // std::from_chars over the body in place: no copies, no locale (strtof's cost).
    Array a;
    int64_t rows = 0, cols = -1;
    const char* p = body.data();
    const char* const end = p + body.size();
    while (p < end) {
      const char* eol = static_cast<const char*>(std::memchr(p, '\n', end - p));
      if (!eol) eol = end;
      const char* line_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
      const char* q = p;
      p = eol + 1;
      while (q < line_end && (*q == ' ' || *q == '\t')) ++q;
      if (q == line_end) continue;  // a blank line
      int64_t n = 0;
      for (;;) {
        while (q < line_end && *q == ' ') ++q;
        if (q < line_end && *q == '+') ++q;
        float v = 0;
        const auto [next, ec] = std::from_chars(q, line_end, v);
        if (ec != std::errc() || next == q)
          return Status::InvalidArgument("CSV row " + std::to_string(rows + 1) +
                                         " has a value that is not a number");
        a.values.push_back(v);
        ++n;
        q = next;
        while (q < line_end && (*q == ' ' || *q == '\t')) ++q;
        if (q == line_end) break;
        if (*q != ',')
          return Status::InvalidArgument("CSV row " + std::to_string(rows + 1) +
                                         " is not comma-separated numbers");
        ++q;
      }
      if (cols >= 0 && n != cols) return Status::InvalidArgument("CSV rows have different lengths");
      cols = n;
      ++rows;
    }
    if (rows == 0) return Status::InvalidArgument("the CSV body has no rows");
    a.shape = rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{rows, cols};
    return a;
  }
  if (ct == "application/x-npy") return DecodeNpy(body);
  return Status::Unsupported("content type " + ct +
                             " is not supported (application/json, text/csv, application/x-npy)");
}

Result<std::string> EncodeBody(const Array& a, const std::string& accept,
                               std::string* content_type) {
  std::stringstream list(accept.empty() ? "*/*" : accept);
  std::string item;
  while (std::getline(list, item, ',')) {
    item = item.substr(0, item.find(';'));
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item == "*/*" || item == "application/json") {
      *content_type = "application/json";
      size_t pos = 0;
      return ToJson(a, 0, &pos).dump();
    }
    if (item == "text/csv") {
      *content_type = "text/csv";
      // One line per row, as the inference toolkit writes CSV (numpy.savetxt): a 1-D answer
      // is a column, one value per line; more dimensions are flattened after the first.
      // A shape with a 0 has no values, and its other dimensions may be anything: the product
      // is taken with an overflow check (found by the fuzz corpus replay under UBSan).
      int64_t cols = 1;
      for (size_t d = 1; d < a.shape.size(); ++d)
        if (__builtin_mul_overflow(cols, a.shape[d], &cols)) {
          cols = 1;
          break;
        }
      if (cols <= 0) cols = 1;
      // Each value as the shortest text that reads back as the same float (std::to_chars).
      std::string out;
      out.reserve(a.values.size() * 12);
      char buf[32];
      for (size_t i = 0; i < a.values.size(); ++i) {
        const auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), a.values[i]);
        out.append(buf, ec == std::errc() ? ptr : buf);
        out += (static_cast<int64_t>(i + 1) % cols == 0) ? '\n' : ',';
      }
      return out;
    }
    if (item == "application/x-npy") {
      *content_type = "application/x-npy";
      return EncodeNpy(a);
    }
  }
  return Status::Unsupported("accept type " + accept +
                             " is not supported (application/json, text/csv, application/x-npy)");
}

}  // namespace cairn::serving
