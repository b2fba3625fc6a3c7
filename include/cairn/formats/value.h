// A checkpoint as a tree of values: what torch.save stored, minus anything executable.
//
// Leaves are None, bool, int, float, str, bytes and tensors; containers are lists, tuples and
// dicts (plain or OrderedDict, with the attributes an OrderedDict carries, such as a state dict's
// `_metadata`). Containers are shared by reference like Python's objects, so copying a Value is
// cheap; the tree built by a reader has no cycles.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "cairn/formats/tensor.h"

namespace cairn {

class Value;

struct ListData {
  std::vector<Value> items;
};
struct TupleData {
  std::vector<Value> items;
  // Value::HashKey's answer, computed once: its items must not change after the tuple is first
  // hashed (as a Python tuple cannot). Memo-shared tuples nested in one another (a pickle can
  // say t1 = (t0, t0), t2 = (t1, t1), ...) would otherwise cost time exponential in the depth.
  mutable std::once_flag hashed;
  mutable std::string hash_key;
};
struct DictData {
  bool ordered = false;  // collections.OrderedDict rather than dict
  std::vector<std::pair<Value, Value>> items;
  // Instance attributes (OrderedDict only), e.g. {"_metadata": ...}; in order of appearance.
  std::vector<std::pair<std::string, Value>> attrs;

  // Inserts or, for an equal key, replaces the value in place (Python's dict semantics).
  void Set(Value key, Value value);
  const Value* Find(const Value& key) const;

 private:
  std::unordered_map<std::string, size_t> index_;  // hashable keys -> position in items
};
struct Bytes {
  std::string data;
};

class Value {
 public:
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kBytes, kList, kTuple, kDict, kTensor };

  Value() = default;
  static Value Bool(bool b) { return Value(Payload(b)); }
  static Value Int(int64_t i) { return Value(Payload(i)); }
  static Value Float(double f) { return Value(Payload(f)); }
  static Value String(std::string s) { return Value(Payload(std::move(s))); }
  static Value BytesValue(std::string b) { return Value(Payload(Bytes{std::move(b)})); }
  static Value List(std::vector<Value> items = {});
  static Value Tuple(std::vector<Value> items = {});
  static Value Dict(bool ordered = false);
  static Value FromTensor(Tensor t);
  static Value FromTensor(std::shared_ptr<const Tensor> t) { return Value(Payload(std::move(t))); }

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_tensor() const { return kind() == Kind::kTensor; }
  bool is_dict() const { return kind() == Kind::kDict; }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const std::string& as_bytes() const { return std::get<Bytes>(v_).data; }
  ListData& list() const { return *std::get<std::shared_ptr<ListData>>(v_); }
  TupleData& tuple() const { return *std::get<std::shared_ptr<TupleData>>(v_); }
  DictData& dict() const { return *std::get<std::shared_ptr<DictData>>(v_); }
  const Tensor& tensor() const { return *std::get<std::shared_ptr<const Tensor>>(v_); }
  const std::shared_ptr<const Tensor>& tensor_ptr() const {
    return std::get<std::shared_ptr<const Tensor>>(v_);
  }
  // The items of a list or tuple (nullptr for other kinds).
  std::vector<Value>* sequence() const;

  // A key that equal hashable Values share (str, int, bool, None, float, bytes, tuples of those);
  // empty for unhashable values. A tuple's key is "t" and the SHA-256 of its items' keys
  // (computed once per tuple, so hashing is linear in the number of distinct tuples); tuples
  // nested more than 512 deep are unhashable.
  std::string HashKey() const;
  // Python-like text for a short value, used in names and messages: "exp_avg", "0", "None".
  std::string ToDisplayString() const;

 private:
  using Payload = std::variant<std::monostate, bool, int64_t, double, std::string, Bytes,
                               std::shared_ptr<ListData>, std::shared_ptr<TupleData>,
                               std::shared_ptr<DictData>, std::shared_ptr<const Tensor>>;
  explicit Value(Payload p) : v_(std::move(p)) {}
  std::string HashKeyAt(int depth) const;  // HashKey, `depth` tuples down
  Payload v_;
};

// A tensor found in a checkpoint, with its name: the keys and positions on its path joined with
// "." (e.g. "optimizer_state_dict.state.0.exp_avg"). A tensor at the root is named "".
struct NamedTensor {
  std::string name;
  std::shared_ptr<const Tensor> tensor;
};
std::vector<NamedTensor> FlattenTensors(const Value& root);

// The SHA-256 of every tensor (Tensor::Sha256), computed on all cores.
std::vector<Sha256Digest> HashTensors(const std::vector<NamedTensor>& tensors);

// Checks that a tree has no cycles, is at most `max_depth` deep, and holds at most
// kMaxExpandedValues values when its shared containers are counted once per reference (what
// FlattenTensors, ToJson and DeepEqual walk): a pickle's memo lets a small file say t1 = (t0, t0),
// t2 = (t1, t1), ... Each container is visited once, so this costs the number of distinct
// containers and their items. kUnsupported, saying which rule, otherwise.
inline constexpr uint64_t kMaxExpandedValues = 10'000'000;
Status ValidateTree(const Value& root, size_t max_depth = 512);

// Structural equality: same kinds, same scalars, same keys in the same order, tensors with equal
// dtype, shape and values (storage sharing and strides are not compared).
bool DeepEqual(const Value& a, const Value& b);

}  // namespace cairn
