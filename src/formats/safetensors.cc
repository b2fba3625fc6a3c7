#include "cairn/formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "cairn/core/parallel.h"

namespace cairn {
namespace {

using Json = nlohmann::ordered_json;

Status Bad(const std::string& what) { return Status::Corrupt("safetensors: " + what); }

struct Slot {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

Result<Slot> ParseEntry(const std::string& name, const Json& e, uint64_t buffer_size) {
  if (!e.is_object()) return Bad("entry '" + name + "' is not an object");
  auto dt = e.find("dtype");
  auto sh = e.find("shape");
  auto off = e.find("data_offsets");
  if (dt == e.end() || sh == e.end() || off == e.end()) {
    return Bad("entry '" + name + "' lacks dtype, shape or data_offsets");
  }
  if (!dt->is_string()) return Bad("dtype of '" + name + "' is not a string");
  auto dtype = DTypeFromName(dt->get<std::string>());
  if (!dtype) {
    return Status::Unsupported("safetensors: tensor '" + name + "' has dtype " +
                               dt->get<std::string>() + ", which cairn does not support");
  }
  Slot s{name, *dtype, {}, 0, 0};
  if (!sh->is_array() || sh->size() > 64) return Bad("shape of '" + name + "' is not a list");
  uint64_t numel = 1;
  bool overflow = false;
  for (const Json& d : *sh) {
    if (!d.is_number_unsigned()) return Bad("shape of '" + name + "' has a non-natural number");
    uint64_t v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
    if (v != 0 && numel > std::numeric_limits<uint64_t>::max() / v) overflow = true;
    numel *= v;
    s.shape.push_back(static_cast<int64_t>(v));
  }
  if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned()) {
    return Bad("data_offsets of '" + name + "' are not two natural numbers");
  }
  s.begin = (*off)[0].get<uint64_t>();
  s.end = (*off)[1].get<uint64_t>();
  if (s.begin > s.end || s.end > buffer_size) {
    return Bad("data_offsets of '" + name + "' lie outside the " + std::to_string(buffer_size) +
               "-byte buffer");
  }
  if (overflow || numel > (s.end - s.begin) / DTypeSize(s.dtype) ||
      numel * DTypeSize(s.dtype) != s.end - s.begin) {
    return Bad("tensor '" + name + "' has a shape that does not match its " +
               std::to_string(s.end - s.begin) + " bytes");
  }
  return s;
}

}  // namespace

Result<SafetensorsContents> ReadSafetensors(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  auto r = ReadSafetensors(std::move(file));
  if (!r.ok()) return r.status().WithContext(path);
  return r;
}

Result<SafetensorsContents> ReadSafetensors(std::shared_ptr<const MappedFile> file) {
  const uint8_t* d = file->data();
  const uint64_t size = file->size();
  if (size < 8) return Bad("file too short for a header");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | d[i];
  if (n > kSafetensorsMaxHeader) return Bad("header of " + std::to_string(n) + " bytes is too big");
  if (n > size - 8) return Bad("header runs past the end of the file (truncated?)");
  if (n < 2 || d[8] != '{') return Bad("header is not a JSON object");
  const uint64_t buffer_size = size - 8 - n;

  // Parse, refusing duplicate names at the top level.
  std::unordered_set<std::string> seen;
  bool duplicate = false;
  std::string dup_name;
  Json::parser_callback_t cb = [&](int depth, Json::parse_event_t ev, Json& parsed) {
    if (depth == 1 && ev == Json::parse_event_t::key) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!seen.insert(k).second && !duplicate) {
        duplicate = true;
        dup_name = k;
      }
    }
    return true;
  };
  Json header = Json::parse(d + 8, d + 8 + n, cb, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) return Bad("header is not valid JSON");
  if (duplicate) return Bad("tensor '" + dup_name + "' appears twice in the header");

  SafetensorsContents out;
  std::vector<Slot> slots;
  for (const auto& [name, e] : header.items()) {
    if (name == "__metadata__") {
      if (!e.is_object()) return Bad("__metadata__ is not an object");
      for (const auto& [k, v] : e.items()) {
        if (!v.is_string()) return Bad("__metadata__ value '" + k + "' is not a string");
        out.metadata.emplace_back(k, v.get<std::string>());
      }
      continue;
    }
    CAIRN_ASSIGN_OR_RETURN(Slot s, ParseEntry(name, e, buffer_size));
    slots.push_back(std::move(s));
  }
  // The tensors must tile the buffer exactly: no holes, no overlaps, nothing left over.
  std::stable_sort(slots.begin(), slots.end(), [](const Slot& a, const Slot& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expect = 0;
  for (const Slot& s : slots) {
    if (s.begin != expect) {
      return Bad(s.begin < expect ? "tensor '" + s.name + "' overlaps another"
                                  : "a hole in the buffer before tensor '" + s.name + "'");
    }
    expect = s.end;
  }
  if (expect != buffer_size) return Bad("the buffer has bytes that belong to no tensor");

  const uint8_t* buffer = d + 8 + n;
  for (Slot& s : slots) {
    Tensor t;
    t.dtype = s.dtype;
    t.strides = Tensor::ContiguousStrides(s.shape);
    t.shape = std::move(s.shape);
    t.storage = Storage::Borrowed(s.dtype, buffer + s.begin, s.end - s.begin, file);
    out.tensors.push_back({s.name, std::make_shared<const Tensor>(std::move(t))});
  }
  return out;
}

Status WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                        const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return DTypeSize(tensors[a].tensor->dtype) > DTypeSize(tensors[b].tensor->dtype);
  });
  Json header = Json::object();
  if (!metadata.empty()) {
    Json m = Json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  std::vector<uint64_t> offsets(tensors.size());
  uint64_t pos = 0;
  for (size_t i : order) {
    const Tensor& t = *tensors[i].tensor;
    CAIRN_RETURN_IF_ERROR(t.Validate());
    const std::string& name = tensors[i].name;
    if (name == "__metadata__" || header.contains(name)) {
      return Status::InvalidArgument("safetensors: the name '" + name + "' is used twice");
    }
    offsets[i] = pos;
    header[name] = {{"dtype", DTypeName(t.dtype)},
                    {"shape", t.shape},
                    {"data_offsets", {pos, pos + t.nbytes()}}};
    pos += t.nbytes();
  }
  std::string text = header.dump(-1, ' ', false, Json::error_handler_t::replace);
  text.append((8 - text.size() % 8) % 8, ' ');
  if (text.size() > kSafetensorsMaxHeader)
    return Status::InvalidArgument("safetensors: header too big");
  CAIRN_ASSIGN_OR_RETURN(auto out, AtomicFileWriter::Create(path));
  uint64_t hn = text.size();
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(hn >> (8 * i));
  CAIRN_RETURN_IF_ERROR(out->Append(len, 8));
  CAIRN_RETURN_IF_ERROR(out->Append(text));
  const uint64_t base = out->position();
  CAIRN_RETURN_IF_ERROR(ParallelFor(tensors.size(), [&](size_t i) {
    uint64_t at = base + offsets[i];
    Status st;
    tensors[i].tensor->ForEachRun([&](const uint8_t* p, size_t len) {
      if (st.ok()) st = out->WriteAt(at, p, len);
      at += len;
    });
    return st;
  }));
  out->Seek(base + pos);
  return out->Commit();
}

}  // namespace cairn
