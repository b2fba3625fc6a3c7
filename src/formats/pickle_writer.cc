// The pickler: writes a Value tree as torch.save (1.13) would, restricted to the opcodes and
// globals that torch.load(weights_only=True) accepts (floats and bytes excepted: 1.13's
// weights_only loader refuses those whoever wrote them).
#include <cstring>
#include <unordered_map>

#include "pickle.h"

namespace cairn::pickle {
namespace {

class Pickler {
 public:
  explicit Pickler(std::vector<std::shared_ptr<const Storage>>* storages) : storages_(storages) {}

  Status Save(const Value& v, size_t depth = 0);
  std::string Take() {
    out_.push_back('.');
    return std::move(out_);
  }
  void Proto() { out_ += "\x80\x02"; }

 private:
  void Op(char c) { out_.push_back(c); }
  void U32(uint32_t v) { out_.append(reinterpret_cast<const char*>(&v), 4); }
  void Global(const char* module, std::string_view name) {
    // Reuse the memo slot of a global already written, as Python's pickler does.
    std::string key = std::string(module) + "\n" + std::string(name) + "\n";
    auto it = memo_.find(key);
    if (it != memo_.end()) {
      Get(it->second);
      return;
    }
    Op('c');
    out_ += key;
    Put(key);
  }
  void Put(const std::string& key) {
    uint32_t idx = next_memo_++;
    memo_[key] = idx;
    if (idx < 256) {
      Op('q');
      out_.push_back(static_cast<char>(idx));
    } else {
      Op('r');
      U32(idx);
    }
  }
  void Get(uint32_t idx) {
    if (idx < 256) {
      Op('h');
      out_.push_back(static_cast<char>(idx));
    } else {
      Op('j');
      U32(idx);
    }
  }
  void Int(int64_t i) {
    if (i >= 0 && i < 256) {
      Op('K');
      out_.push_back(static_cast<char>(i));
    } else if (i >= 0 && i < 65536) {
      Op('M');
      uint16_t v = static_cast<uint16_t>(i);
      out_.append(reinterpret_cast<const char*>(&v), 2);
    } else if (i >= INT32_MIN && i <= INT32_MAX) {
      Op('J');
      int32_t v = static_cast<int32_t>(i);
      out_.append(reinterpret_cast<const char*>(&v), 4);
    } else {  // LONG1 with the shortest two's complement encoding
      uint8_t bytes[8];
      std::memcpy(bytes, &i, 8);
      int n = 8;
      while (n > 1 && ((bytes[n - 1] == 0 && !(bytes[n - 2] & 0x80)) ||
                       (bytes[n - 1] == 0xff && (bytes[n - 2] & 0x80)))) {
        --n;
      }
      Op('\x8a');
      out_.push_back(static_cast<char>(n));
      out_.append(reinterpret_cast<const char*>(bytes), n);
    }
  }
  void Str(std::string_view s) {
    Op('X');
    U32(static_cast<uint32_t>(s.size()));
    out_ += s;
  }
  Status SaveTensor(const Tensor& t);
  Status SaveItems(const std::vector<Value>& items, size_t depth);

  std::string out_;
  std::unordered_map<std::string, uint32_t> memo_;
  uint32_t next_memo_ = 0;
  std::unordered_map<const Storage*, size_t> storage_keys_;
  std::vector<std::shared_ptr<const Storage>>* storages_;
};

Status Pickler::SaveTensor(const Tensor& t) {
  CAIRN_RETURN_IF_ERROR(t.Validate());
  if (t.is_parameter) Global("torch._utils", "_rebuild_parameter");
  if (t.is_parameter) Op('(');
  Global("torch._utils", "_rebuild_tensor_v2");
  auto [it, inserted] = storage_keys_.emplace(t.storage.get(), storages_->size());
  if (inserted) storages_->push_back(t.storage);
  const std::string key = std::to_string(it->second);
  Op('(');
  // The persistent id: ('storage', torch.<T>Storage, key, 'cpu', numel)
  Op('(');
  Str("storage");
  Global("torch", DTypeTorchStorage(t.dtype));
  Str(key);
  Str("cpu");
  Int(static_cast<int64_t>(t.storage->numel()));
  Op('t');
  Op('Q');
  Int(t.storage_offset);
  Op('(');
  for (int64_t d : t.shape) Int(d);
  Op('t');
  Op('(');
  for (int64_t s : t.strides) Int(s);
  Op('t');
  Op(t.requires_grad && !t.is_parameter ? '\x88' : '\x89');
  Global("collections", "OrderedDict");  // backward hooks: an empty OrderedDict
  Op(')');
  Op('R');
  Op('t');
  Op('R');
  if (t.is_parameter) {
    Op(t.requires_grad ? '\x88' : '\x89');
    Global("collections", "OrderedDict");
    Op(')');
    Op('R');
    Op('t');
    Op('R');
  }
  return Status::OK();
}

Status Pickler::SaveItems(const std::vector<Value>& items, size_t depth) {
  for (const Value& v : items) CAIRN_RETURN_IF_ERROR(Save(v, depth + 1));
  return Status::OK();
}

Status Pickler::Save(const Value& v, size_t depth) {
  if (depth > 512) return Status::Unsupported("containers nested more than 512 deep");
  switch (v.kind()) {
    case Value::Kind::kNone:
      Op('N');
      return Status::OK();
    case Value::Kind::kBool:
      Op(v.as_bool() ? '\x88' : '\x89');
      return Status::OK();
    case Value::Kind::kInt:
      Int(v.as_int());
      return Status::OK();
    case Value::Kind::kFloat: {
      double d = v.as_float();
      uint64_t u;
      std::memcpy(&u, &d, 8);
      Op('G');
      for (int i = 7; i >= 0; --i) out_.push_back(static_cast<char>(u >> (8 * i)));
      return Status::OK();
    }
    case Value::Kind::kString:
      Str(v.as_string());
      return Status::OK();
    case Value::Kind::kBytes: {
      // Protocol 2 writes bytes as _codecs.encode(<latin-1 text>, 'latin1').
      std::string text;
      for (unsigned char c : v.as_bytes()) {
        if (c < 0x80) {
          text.push_back(static_cast<char>(c));
        } else {
          text.push_back(static_cast<char>(0xc0 | (c >> 6)));
          text.push_back(static_cast<char>(0x80 | (c & 0x3f)));
        }
      }
      Global("_codecs", "encode");
      Op('(');
      Str(text);
      Str("latin1");
      Op('t');
      Op('R');
      return Status::OK();
    }
    case Value::Kind::kList:
      Op(']');
      if (!v.list().items.empty()) {
        Op('(');
        CAIRN_RETURN_IF_ERROR(SaveItems(v.list().items, depth));
        Op('e');
      }
      return Status::OK();
    case Value::Kind::kTuple:
      Op('(');
      CAIRN_RETURN_IF_ERROR(SaveItems(v.tuple().items, depth));
      Op('t');
      return Status::OK();
    case Value::Kind::kDict: {
      const DictData& d = v.dict();
      if (d.ordered) {
        Global("collections", "OrderedDict");
        Op(')');
        Op('R');
      } else {
        Op('}');
      }
      if (!d.items.empty()) {
        Op('(');
        for (const auto& [k, x] : d.items) {
          CAIRN_RETURN_IF_ERROR(Save(k, depth + 1));
          CAIRN_RETURN_IF_ERROR(Save(x, depth + 1));
        }
        Op('u');
      }
      if (!d.attrs.empty()) {
        if (!d.ordered) return Status::Unsupported("attributes on a plain dict");
        Op('}');
        Op('(');
        for (const auto& [k, x] : d.attrs) {
          Str(k);
          CAIRN_RETURN_IF_ERROR(Save(x, depth + 1));
        }
        Op('u');
        Op('b');
      }
      return Status::OK();
    }
    case Value::Kind::kTensor:
      return SaveTensor(v.tensor());
  }
  return Status::Internal("unknown value kind");
}

}  // namespace

Result<std::string> Pickle(const Value& root,
                           std::vector<std::shared_ptr<const Storage>>* storages) {
  storages->clear();
  Pickler p(storages);
  p.Proto();
  CAIRN_RETURN_IF_ERROR(p.Save(root));
  return p.Take();
}

}  // namespace cairn::pickle
