#include "value_json.h"

#include <cmath>
#include <unordered_set>

namespace cairn::structure {
namespace {

class Encoder {
 public:
  explicit Encoder(std::vector<NamedTensor>* tensors) : tensors_(tensors) {}

  Result<Json> Run(const Value& v, const std::string& name, size_t depth) {
    if (depth > 512) return Status::Unsupported("containers nested more than 512 deep");
    auto join = [&](const std::string& part) { return name.empty() ? part : name + "." + part; };
    switch (v.kind()) {
      case Value::Kind::kNone:
        return Json(nullptr);
      case Value::Kind::kBool:
        return Json(v.as_bool());
      case Value::Kind::kInt:
        return Json(v.as_int());
      case Value::Kind::kFloat: {
        double f = v.as_float();
        if (std::isnan(f)) return Json{{"$float", "nan"}};
        if (std::isinf(f)) return Json{{"$float", f > 0 ? "inf" : "-inf"}};
        return Json(f);
      }
      case Value::Kind::kString:
        return Json(v.as_string());
      case Value::Kind::kBytes:
        return Json{{"$bytes", ToHex(v.as_bytes().data(), v.as_bytes().size())}};
      case Value::Kind::kList:
      case Value::Kind::kTuple: {
        Json arr = Json::array();
        const auto& items = *v.sequence();
        for (size_t i = 0; i < items.size(); ++i) {
          CAIRN_ASSIGN_OR_RETURN(Json x, Run(items[i], join(std::to_string(i)), depth + 1));
          arr.push_back(std::move(x));
        }
        if (v.kind() == Value::Kind::kList) return arr;
        return Json{{"$tuple", std::move(arr)}};
      }
      case Value::Kind::kDict: {
        const DictData& d = v.dict();
        Json items = Json::array();
        for (const auto& [k, x] : d.items) {
          CAIRN_ASSIGN_OR_RETURN(Json jk, Run(k, "", depth + 1));
          CAIRN_ASSIGN_OR_RETURN(Json jx, Run(x, join(k.ToDisplayString()), depth + 1));
          items.push_back(Json::array({std::move(jk), std::move(jx)}));
        }
        Json out{{d.ordered ? "$odict" : "$dict", std::move(items)}};
        if (!d.attrs.empty()) {
          Json attrs = Json::object();
          for (const auto& [k, x] : d.attrs) {
            // Attributes hold no tensors in practice; any that do are named under "$attrs".
            CAIRN_ASSIGN_OR_RETURN(attrs[k], Run(x, join("$attrs." + k), depth + 1));
          }
          out["$attrs"] = std::move(attrs);
        }
        return out;
      }
      case Value::Kind::kTensor: {
        if (!names_.insert(name).second) {
          return Status::InvalidArgument("two tensors would both be named '" + name + "'");
        }
        tensors_->push_back({name, v.tensor_ptr()});
        Json t{{"$tensor", name}};
        if (v.tensor().requires_grad) t["requires_grad"] = true;
        if (v.tensor().is_parameter) t["parameter"] = true;
        return t;
      }
    }
    return Status::Internal("unknown value kind");
  }

 private:
  std::vector<NamedTensor>* tensors_;
  std::unordered_set<std::string> names_;
};

Status Bad(const std::string& what) {
  return Status::Corrupt("checkpoint structure in the metadata: " + what);
}

Result<Value> DecodeAt(const Json& j,
                       const std::unordered_map<std::string, std::shared_ptr<const Tensor>>& ts,
                       size_t depth) {
  if (depth > 512) return Bad("nested too deep");
  switch (j.type()) {
    case Json::value_t::null:
      return Value();
    case Json::value_t::boolean:
      return Value::Bool(j.get<bool>());
    case Json::value_t::number_integer:
      return Value::Int(j.get<int64_t>());
    case Json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Bad("integer out of range");
      return Value::Int(static_cast<int64_t>(u));
    }
    case Json::value_t::number_float:
      return Value::Float(j.get<double>());
    case Json::value_t::string:
      return Value::String(j.get<std::string>());
    case Json::value_t::array: {
      std::vector<Value> items;
      for (const Json& x : j) {
        CAIRN_ASSIGN_OR_RETURN(Value v, DecodeAt(x, ts, depth + 1));
        items.push_back(std::move(v));
      }
      return Value::List(std::move(items));
    }
    case Json::value_t::object:
      break;
    default:
      return Bad("unexpected JSON value");
  }
  if (j.contains("$float")) {
    const std::string s = j["$float"].is_string() ? j["$float"].get<std::string>() : "";
    if (s == "nan") return Value::Float(NAN);
    if (s == "inf") return Value::Float(INFINITY);
    if (s == "-inf") return Value::Float(-INFINITY);
    return Bad("bad $float");
  }
  if (j.contains("$bytes")) {
    if (!j["$bytes"].is_string()) return Bad("bad $bytes");
    const std::string hex = j["$bytes"].get<std::string>();
    if (hex.size() % 2 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return Bad("bad $bytes");
    }
    std::string out;
    auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    for (size_t i = 0; i < hex.size(); i += 2) {
      out.push_back(static_cast<char>(nib(hex[i]) * 16 + nib(hex[i + 1])));
    }
    return Value::BytesValue(std::move(out));
  }
  if (j.contains("$tuple")) {
    CAIRN_ASSIGN_OR_RETURN(Value l, DecodeAt(j["$tuple"], ts, depth + 1));
    if (l.kind() != Value::Kind::kList) return Bad("bad $tuple");
    return Value::Tuple(std::move(l.list().items));
  }
  if (j.contains("$tensor")) {
    if (!j["$tensor"].is_string()) return Bad("bad $tensor");
    auto it = ts.find(j["$tensor"].get<std::string>());
    if (it == ts.end()) return Bad("tensor '" + j["$tensor"].get<std::string>() + "' is missing");
    Tensor t = *it->second;
    t.requires_grad = j.value("requires_grad", false);
    t.is_parameter = j.value("parameter", false);
    return Value::FromTensor(std::move(t));
  }
  const bool ordered = j.contains("$odict");
  if (!ordered && !j.contains("$dict")) return Bad("unknown object");
  const Json& items = j[ordered ? "$odict" : "$dict"];
  if (!items.is_array()) return Bad("bad dict items");
  Value d = Value::Dict(ordered);
  for (const Json& kv : items) {
    if (!kv.is_array() || kv.size() != 2) return Bad("bad dict item");
    CAIRN_ASSIGN_OR_RETURN(Value k, DecodeAt(kv[0], ts, depth + 1));
    CAIRN_ASSIGN_OR_RETURN(Value v, DecodeAt(kv[1], ts, depth + 1));
    if (k.HashKey().empty()) return Bad("unhashable dict key");
    d.dict().Set(std::move(k), std::move(v));
  }
  if (j.contains("$attrs")) {
    if (!j["$attrs"].is_object()) return Bad("bad $attrs");
    for (const auto& [k, x] : j["$attrs"].items()) {
      CAIRN_ASSIGN_OR_RETURN(Value v, DecodeAt(x, ts, depth + 1));
      d.dict().attrs.emplace_back(k, std::move(v));
    }
  }
  return d;
}

}  // namespace

Result<Json> Encode(const Value& root, std::vector<NamedTensor>* tensors) {
  Encoder e(tensors);
  return e.Run(root, "", 0);
}

Result<Value> Decode(const Json& j,
                     const std::unordered_map<std::string, std::shared_ptr<const Tensor>>& ts) {
  return DecodeAt(j, ts, 0);
}

}  // namespace cairn::structure
