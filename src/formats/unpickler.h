// Private to the formats layer: the restricted unpickler's machine, split over
// pickle_reader.cc (the opcodes) and pickle_globals.cc (the few globals it knows).
#pragma once

#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "pickle.h"

namespace cairn::pickle {

enum class GlobalKind {
  kOrderedDict,
  kRebuildTensor,
  kRebuildTensorV2,
  kRebuildParameter,
  kRebuildParameterWithState,
  kStorageType,
  kTorchSize,
  kCodecsEncode,
};

struct Global {
  GlobalKind kind;
  DType dtype = DType::kF32;  // for kStorageType
  std::string name;           // "module.name", for messages
};

// Maps a pickle global to one cairn knows, or refuses it with kUnsafe naming it.
Result<Global> ResolveGlobal(const std::string& module, const std::string& name);

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, const StorageLoader& load)
      : p_(data), end_(data + size), budget_(size * 16 + (1 << 20)), load_(load) {}
  ~Unpickler() { Teardown(); }

  Result<Value> Run();

 private:
  Status Step(uint8_t op);
  Status Err(const std::string& what) const {
    return Status::Corrupt("pickle at byte " + std::to_string(pos_) + ": " + what);
  }
  Status Need(size_t n) const {
    return static_cast<size_t>(end_ - p_) < n ? Err("truncated") : Status::OK();
  }
  template <typename T>
  Result<T> ReadLE() {
    CAIRN_RETURN_IF_ERROR(Need(sizeof(T)));
    T v;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  Result<std::string> ReadBytes(uint64_t n) {
    CAIRN_RETURN_IF_ERROR(Need(n));
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  Result<std::string> ReadLine() {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', end_ - p_));
    if (nl == nullptr || nl - p_ > 256) return Err("bad GLOBAL name");
    std::string s(reinterpret_cast<const char*>(p_), nl - p_);
    p_ = nl + 1;
    return s;
  }
  Result<Value> Pop() {
    if (stack_.size() <= Floor()) return Err("pop from an empty stack");
    Value v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  Result<Value*> Top() {
    if (stack_.size() <= Floor()) return Err("empty stack");
    return &stack_.back();
  }
  size_t Floor() const { return marks_.empty() ? 0 : marks_.back(); }
  Result<std::vector<Value>> PopMark() {
    if (marks_.empty()) return Err("no MARK");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Value> items(std::make_move_iterator(stack_.begin() + m),
                             std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }
  Value Track(Value v) {
    created_.push_back(v);
    return v;
  }
  Status Charge(const Value& v) {
    size_t n = 0;
    if (v.kind() == Value::Kind::kString) n = v.as_string().size();
    if (v.kind() == Value::Kind::kBytes) n = v.as_bytes().size();
    if (n > budget_) return Err("the pickle expands to far more data than it holds");
    budget_ -= n;
    return Status::OK();
  }
  Status PushInt(int64_t i) {
    stack_.push_back(Value::Int(i));
    return Status::OK();
  }
  Status PushLong(size_t n);
  Status Reduce(const Value& callable, const Value& args);
  Status PersistentLoad(const Value& pid);
  Result<std::vector<int64_t>> IntTuple(const Value& v, const char* what) const;
  const Global* AsGlobal(const Value& v) const {
    if (v.kind() != Value::Kind::kTuple) return nullptr;
    auto it = globals_.find(&v.tuple());
    return it == globals_.end() ? nullptr : &it->second;
  }
  void Teardown();

  const uint8_t* p_;
  const uint8_t* end_;
  size_t pos_ = 0;
  size_t budget_;
  const StorageLoader& load_;
  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value> memo_;
  std::vector<Value> created_;                       // every container, for teardown
  std::unordered_map<const void*, Global> globals_;  // marker tuple -> global
  std::unordered_set<const Tensor*> raw_storages_;   // tensors that stand for a bare storage
  std::unordered_set<const void*> keep_;             // containers reachable from the result
};

}  // namespace cairn::pickle
