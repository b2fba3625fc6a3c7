#include "cairn/formats/value.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "cairn/core/parallel.h"
#include "cairn/core/sha256.h"

namespace cairn {

Value Value::List(std::vector<Value> items) {
  auto d = std::make_shared<ListData>();
  d->items = std::move(items);
  return Value(Payload(std::move(d)));
}

Value Value::Tuple(std::vector<Value> items) {
  auto d = std::make_shared<TupleData>();
  d->items = std::move(items);
  return Value(Payload(std::move(d)));
}

Value Value::Dict(bool ordered) {
  auto d = std::make_shared<DictData>();
  d->ordered = ordered;
  return Value(Payload(std::move(d)));
}

Value Value::FromTensor(Tensor t) {
  return Value(Payload(std::shared_ptr<const Tensor>(std::make_shared<Tensor>(std::move(t)))));
}

std::vector<Value>* Value::sequence() const {
  if (kind() == Kind::kList) return &list().items;
  if (kind() == Kind::kTuple) return &tuple().items;
  return nullptr;
}

namespace {
// Tuples nested deeper than ValidateTree's limit are unhashable: the recursion stays bounded
// (a pickle of 100,000 nested TUPLE1s as a dict key overflowed the stack: pickle_fuzz).
constexpr int kMaxHashDepth = 512;
}  // namespace

std::string Value::HashKey() const { return HashKeyAt(0); }

std::string Value::HashKeyAt(int depth) const {
  switch (kind()) {
    case Kind::kNone:
      return "n";
    case Kind::kBool:
      return as_bool() ? "i1" : "i0";  // True == 1 in Python
    case Kind::kInt:
      return "i" + std::to_string(as_int());
    case Kind::kFloat: {
      double f = as_float();
      if (f == static_cast<double>(static_cast<int64_t>(f))) {
        return "i" + std::to_string(static_cast<int64_t>(f));
      }
      char buf[32];
      std::memcpy(buf, &f, sizeof(f));
      return "f" + std::string(buf, sizeof(f));
    }
    case Kind::kString:
      return "s" + as_string();
    case Kind::kBytes:
      return "b" + as_bytes();
    case Kind::kTuple: {
      if (depth >= kMaxHashDepth) return "";
      const TupleData& t = tuple();
      std::call_once(t.hashed, [&t, depth] {
        Sha256 h;
        for (const Value& v : t.items) {
          const std::string sub = v.HashKeyAt(depth + 1);
          if (sub.empty()) return;  // unhashable: the key stays empty
          const std::string size = std::to_string(sub.size()) + ":";
          h.Update(size.data(), size.size());
          h.Update(sub.data(), sub.size());
        }
        const Sha256Digest d = h.Finish();
        t.hash_key = "t" + std::string(reinterpret_cast<const char*>(d.data()), d.size());
      });
      return t.hash_key;
    }
    default:
      return "";
  }
}

std::string Value::ToDisplayString() const {
  switch (kind()) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return as_bool() ? "True" : "False";
    case Kind::kInt:
      return std::to_string(as_int());
    case Kind::kFloat: {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.17g", as_float());
      return buf;
    }
    case Kind::kString:
      return as_string();
    case Kind::kBytes:
      return "<bytes>";
    case Kind::kList:
      return "<list>";
    case Kind::kTuple: {  // at most kMaxDisplay characters: names are built from these
      constexpr size_t kMaxDisplay = 256;
      std::string s = "(";
      for (size_t i = 0; i < tuple().items.size(); ++i) {
        if (i) s += ", ";
        s += tuple().items[i].ToDisplayString();
        if (s.size() > kMaxDisplay) return s.substr(0, kMaxDisplay) + "...)";
      }
      return s + ")";
    }
    case Kind::kDict:
      return "<dict>";
    case Kind::kTensor:
      return "<tensor>";
  }
  return "";
}

void DictData::Set(Value key, Value value) {
  std::string h = key.HashKey();
  if (!h.empty()) {
    auto [it, inserted] = index_.emplace(std::move(h), items.size());
    if (!inserted) {
      items[it->second].second = std::move(value);
      return;
    }
  }
  items.emplace_back(std::move(key), std::move(value));
}

const Value* DictData::Find(const Value& key) const {
  std::string h = key.HashKey();
  if (h.empty()) return nullptr;
  auto it = index_.find(h);
  return it == index_.end() ? nullptr : &items[it->second].second;
}

namespace {

void Flatten(const Value& v, const std::string& prefix, std::vector<NamedTensor>& out) {
  auto join = [&](const std::string& part) { return prefix.empty() ? part : prefix + "." + part; };
  switch (v.kind()) {
    case Value::Kind::kTensor:
      out.push_back({prefix, v.tensor_ptr()});
      break;
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const auto& items = *v.sequence();
      for (size_t i = 0; i < items.size(); ++i) Flatten(items[i], join(std::to_string(i)), out);
      break;
    }
    case Value::Kind::kDict:
      for (const auto& [k, item] : v.dict().items) Flatten(item, join(k.ToDisplayString()), out);
      break;
    default:
      break;
  }
}

// A container's shape below it: the depth of its deepest value (0: no children) and how many
// values it holds once memo-shared containers are expanded (capped at kMaxExpanded + 1).
struct Shape {
  size_t height = 0;
  uint64_t expanded = 1;
};

struct TreeCheck {
  size_t max_depth;
  std::unordered_set<const void*> path;         // containers being walked (cycles)
  std::unordered_map<const void*, Shape> done;  // containers walked: each once (DAGs)
};

Result<Shape> Measure(const Value& v, size_t depth, TreeCheck& t) {
  auto too_deep = [&] {
    return Status::Unsupported("containers nested more than " + std::to_string(t.max_depth) +
                               " deep");
  };
  if (depth > t.max_depth) return too_deep();
  const void* id = nullptr;
  std::vector<const Value*> children;
  switch (v.kind()) {
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      id = v.sequence();
      for (const Value& c : *v.sequence()) children.push_back(&c);
      break;
    case Value::Kind::kDict:
      id = &v.dict();
      for (const auto& [k, c] : v.dict().items) {
        children.push_back(&k);
        children.push_back(&c);
      }
      for (const auto& [k, c] : v.dict().attrs) children.push_back(&c);
      break;
    default:
      return Shape{};
  }
  if (auto it = t.done.find(id); it != t.done.end()) {
    if (depth + it->second.height > t.max_depth) return too_deep();
    return it->second;
  }
  if (!t.path.insert(id).second) return Status::Unsupported("a container that contains itself");
  Shape shape;
  for (const Value* c : children) {
    CAIRN_ASSIGN_OR_RETURN(const Shape sub, Measure(*c, depth + 1, t));
    shape.height = std::max(shape.height, sub.height + 1);
    shape.expanded = std::min(shape.expanded + sub.expanded, kMaxExpandedValues + 1);
  }
  t.path.erase(id);
  t.done.emplace(id, shape);
  return shape;
}

bool TensorsEqual(const Tensor& a, const Tensor& b) {
  if (a.dtype != b.dtype || a.shape != b.shape || a.requires_grad != b.requires_grad ||
      a.is_parameter != b.is_parameter) {
    return false;
  }
  return a.ContiguousBytes() == b.ContiguousBytes();
}

}  // namespace

std::vector<NamedTensor> FlattenTensors(const Value& root) {
  std::vector<NamedTensor> out;
  Flatten(root, "", out);
  return out;
}

std::vector<Sha256Digest> HashTensors(const std::vector<NamedTensor>& tensors) {
  // Largest first, so that one big tensor does not start last and run alone.
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return tensors[a].tensor->nbytes() > tensors[b].tensor->nbytes();
  });
  std::vector<Sha256Digest> out(tensors.size());
  (void)ParallelFor(order.size(), [&](size_t i) {
    out[order[i]] = tensors[order[i]].tensor->Sha256();
    return Status::OK();
  });
  return out;
}

Status ValidateTree(const Value& root, size_t max_depth) {
  TreeCheck t{max_depth, {}, {}};
  CAIRN_ASSIGN_OR_RETURN(const Shape shape, Measure(root, 0, t));
  if (shape.expanded > kMaxExpandedValues)
    return Status::Unsupported(
        "the checkpoint holds more than " + std::to_string(kMaxExpandedValues) +
        " values once its shared containers are expanded (containers that repeat one another, "
        "nested: a tree exponentially larger than the file)");
  return Status::OK();
}

bool DeepEqual(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kBool:
      return a.as_bool() == b.as_bool();
    case Value::Kind::kInt:
      return a.as_int() == b.as_int();
    case Value::Kind::kFloat: {
      double x = a.as_float(), y = b.as_float();
      return std::memcmp(&x, &y, sizeof(x)) == 0 || x == y;
    }
    case Value::Kind::kString:
      return a.as_string() == b.as_string();
    case Value::Kind::kBytes:
      return a.as_bytes() == b.as_bytes();
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const auto &x = *a.sequence(), &y = *b.sequence();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!DeepEqual(x[i], y[i])) return false;
      return true;
    }
    case Value::Kind::kDict: {
      const auto &x = a.dict(), &y = b.dict();
      if (x.ordered != y.ordered || x.items.size() != y.items.size() ||
          x.attrs.size() != y.attrs.size()) {
        return false;
      }
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!DeepEqual(x.items[i].first, y.items[i].first) ||
            !DeepEqual(x.items[i].second, y.items[i].second)) {
          return false;
        }
      }
      for (size_t i = 0; i < x.attrs.size(); ++i) {
        if (x.attrs[i].first != y.attrs[i].first ||
            !DeepEqual(x.attrs[i].second, y.attrs[i].second))
          return false;
      }
      return true;
    }
    case Value::Kind::kTensor:
      return TensorsEqual(a.tensor(), b.tensor());
  }
  return false;
}

}  // namespace cairn
