// The restricted unpickler. It interprets pickle opcodes as a small stack machine that can only
// build values (None, bool, int, float, str, bytes, list, tuple, dict) and, through a fixed table
// of known globals, tensors. There is no path to import or call anything else.
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "pickle.h"

namespace cairn::pickle {
namespace {

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

Result<Global> ResolveGlobal(const std::string& module, const std::string& name) {
  const std::string full = module + "." + name;
  auto g = [&](GlobalKind k) { return Global{k, DType::kF32, full}; };
  if (module == "collections" && name == "OrderedDict") return g(GlobalKind::kOrderedDict);
  if (module == "torch._utils") {
    if (name == "_rebuild_tensor_v2") return g(GlobalKind::kRebuildTensorV2);
    if (name == "_rebuild_tensor") return g(GlobalKind::kRebuildTensor);
    if (name == "_rebuild_parameter") return g(GlobalKind::kRebuildParameter);
    if (name == "_rebuild_parameter_with_state") return g(GlobalKind::kRebuildParameterWithState);
  }
  if (module == "torch") {
    if (name == "Size") return g(GlobalKind::kTorchSize);
    if (auto dt = DTypeFromTorchStorage(name)) return Global{GlobalKind::kStorageType, *dt, full};
    if (name.size() > 7 && name.compare(name.size() - 7, 7, "Storage") == 0) {
      return Status::Unsupported("tensors of type torch." + name + " are not supported");
    }
  }
  if (module == "_codecs" && name == "encode") return g(GlobalKind::kCodecsEncode);
  return Status::Unsafe("the pickle refers to the global '" + full +
                        "', which cairn never loads (only tensors and plain containers are "
                        "allowed); nothing was executed");
}

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

Result<Value> Unpickler::Run() {
  const uint8_t* start = p_;
  while (p_ < end_) {
    pos_ = static_cast<size_t>(p_ - start);
    uint8_t op = *p_++;
    if (op == '.') {  // STOP
      if (stack_.size() != 1 || !marks_.empty()) return Err("STOP with a malformed stack");
      Value result = std::move(stack_.back());
      stack_.clear();
      memo_.clear();
      CAIRN_RETURN_IF_ERROR(ValidateTree(result));
      // Remember what the result holds so that Teardown leaves it intact; refuse leftovers.
      std::vector<Value> todo{result};
      while (!todo.empty()) {
        Value v = std::move(todo.back());
        todo.pop_back();
        if (AsGlobal(v)) return Err("the result holds the global " + AsGlobal(v)->name);
        if (auto* seq = v.sequence()) {
          keep_.insert(seq);
          todo.insert(todo.end(), seq->begin(), seq->end());
        } else if (v.is_dict()) {
          keep_.insert(&v.dict());
          for (auto& [k, x] : v.dict().items) {
            todo.push_back(k);
            todo.push_back(x);
          }
          for (auto& [k, x] : v.dict().attrs) todo.push_back(x);
        }
      }
      return result;
    }
    CAIRN_RETURN_IF_ERROR(Step(op));
  }
  return Err("no STOP opcode (truncated pickle)");
}

void Unpickler::Teardown() {
  // Break every reference between containers not kept, so that cycles are freed and no deep
  // chain is destroyed recursively.
  for (Value& v : created_) {
    if (auto* seq = v.sequence()) {
      if (!keep_.count(seq)) seq->clear();
    } else if (v.is_dict() && !keep_.count(&v.dict())) {
      v.dict().items.clear();
      v.dict().attrs.clear();
    }
  }
}

Status Unpickler::PushLong(size_t n) {
  if (n == 0) return PushInt(0);
  if (n > 8) return Status::Unsupported("integers wider than 64 bits are not supported");
  CAIRN_RETURN_IF_ERROR(Need(n));
  uint64_t u = 0;
  for (size_t i = 0; i < n; ++i) u |= static_cast<uint64_t>(p_[i]) << (8 * i);
  if (n < 8 && (p_[n - 1] & 0x80)) u |= ~uint64_t{0} << (8 * n);  // sign-extend
  p_ += n;
  return PushInt(static_cast<int64_t>(u));
}

Result<std::vector<int64_t>> Unpickler::IntTuple(const Value& v, const char* what) const {
  const auto* seq = v.sequence();
  if (seq == nullptr) return Err(std::string(what) + " is not a tuple");
  std::vector<int64_t> out;
  for (const Value& x : *seq) {
    if (x.kind() != Value::Kind::kInt) return Err(std::string(what) + " holds a non-integer");
    out.push_back(x.as_int());
  }
  return out;
}

Status Unpickler::PersistentLoad(const Value& pid) {
  const auto* t = pid.kind() == Value::Kind::kTuple ? &pid.tuple().items : nullptr;
  if (t == nullptr || t->size() != 5 || (*t)[0].kind() != Value::Kind::kString ||
      (*t)[0].as_string() != "storage") {
    return Err("persistent id is not a ('storage', type, key, location, numel) tuple");
  }
  const Global* g = AsGlobal((*t)[1]);
  if (g == nullptr || g->kind != GlobalKind::kStorageType) return Err("bad storage type");
  if ((*t)[2].kind() != Value::Kind::kString || (*t)[4].kind() != Value::Kind::kInt) {
    return Err("bad storage key or size");
  }
  CAIRN_ASSIGN_OR_RETURN(auto storage, load_(g->dtype, (*t)[2].as_string(), (*t)[4].as_int()));
  Tensor raw;
  raw.dtype = g->dtype;
  raw.shape = {static_cast<int64_t>(storage->numel())};
  raw.strides = {1};
  raw.storage = std::move(storage);
  Value v = Value::FromTensor(std::move(raw));
  raw_storages_.insert(&v.tensor());
  stack_.push_back(std::move(v));
  return Status::OK();
}

Status Unpickler::Reduce(const Value& callable, const Value& args_v) {
  const Global* g = AsGlobal(callable);
  if (g == nullptr) return Err("REDUCE of something that is not a known global");
  if (args_v.kind() != Value::Kind::kTuple) return Err("REDUCE arguments are not a tuple");
  const auto& args = args_v.tuple().items;
  switch (g->kind) {
    case GlobalKind::kOrderedDict:
      if (!args.empty()) return Status::Unsupported("OrderedDict built from arguments");
      stack_.push_back(Track(Value::Dict(/*ordered=*/true)));
      return Status::OK();
    case GlobalKind::kRebuildTensor:
    case GlobalKind::kRebuildTensorV2: {
      if (args.size() < 4) return Err(g->name + " with too few arguments");
      if (!args[0].is_tensor() || !raw_storages_.count(&args[0].tensor())) {
        return Err(g->name + " without a storage");
      }
      if (args[1].kind() != Value::Kind::kInt) return Err("storage offset is not an integer");
      Tensor t;
      t.storage = args[0].tensor().storage;
      t.dtype = t.storage->dtype;
      t.storage_offset = args[1].as_int();
      CAIRN_ASSIGN_OR_RETURN(t.shape, IntTuple(args[2], "tensor size"));
      CAIRN_ASSIGN_OR_RETURN(t.strides, IntTuple(args[3], "tensor stride"));
      if (g->kind == GlobalKind::kRebuildTensorV2 && args.size() >= 5) {
        if (args[4].kind() != Value::Kind::kBool) return Err("requires_grad is not a bool");
        t.requires_grad = args[4].as_bool();
      }
      CAIRN_RETURN_IF_ERROR(t.Validate());
      stack_.push_back(Value::FromTensor(std::move(t)));
      return Status::OK();
    }
    case GlobalKind::kRebuildParameter:
    case GlobalKind::kRebuildParameterWithState: {
      if (args.size() < 2 || !args[0].is_tensor() || args[1].kind() != Value::Kind::kBool) {
        return Err(g->name + " with bad arguments");
      }
      if (g->kind == GlobalKind::kRebuildParameterWithState && args.size() >= 4 &&
          !(args[3].is_dict() && args[3].dict().items.empty())) {
        return Status::Unsupported("parameters with Python attributes are not supported");
      }
      Tensor t = args[0].tensor();
      t.is_parameter = true;
      t.requires_grad = args[1].as_bool();
      stack_.push_back(Value::FromTensor(std::move(t)));
      return Status::OK();
    }
    case GlobalKind::kTorchSize: {
      if (args.size() != 1) return Err("torch.Size with bad arguments");
      CAIRN_ASSIGN_OR_RETURN(auto dims, IntTuple(args[0], "torch.Size"));
      std::vector<Value> items;
      for (int64_t d : dims) items.push_back(Value::Int(d));
      stack_.push_back(Track(Value::Tuple(std::move(items))));
      return Status::OK();
    }
    case GlobalKind::kCodecsEncode: {
      if (args.size() != 2 || args[0].kind() != Value::Kind::kString ||
          args[1].kind() != Value::Kind::kString || args[1].as_string() != "latin1") {
        return Status::Unsupported("_codecs.encode other than of a str to latin1");
      }
      // Python pickles bytes as the latin-1 text whose code points are the byte values.
      const std::string& s = args[0].as_string();
      std::string out;
      for (size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<uint8_t>(s[i]);
        if (c < 0x80) {
          out.push_back(static_cast<char>(c));
        } else if ((c & 0xe0) == 0xc0 && i + 1 < s.size() && c <= 0xc3) {
          out.push_back(static_cast<char>(((c & 0x1f) << 6) | (s[i + 1] & 0x3f)));
          ++i;
        } else {
          return Err("_codecs.encode of a character outside latin-1");
        }
      }
      stack_.push_back(Value::BytesValue(std::move(out)));
      return Status::OK();
    }
    case GlobalKind::kStorageType:
      return Status::Unsupported("constructing " + g->name + " directly is not supported");
  }
  return Err("unknown global");
}

Status Unpickler::Step(uint8_t op) {
  switch (op) {
    case 0x80: {  // PROTO
      CAIRN_ASSIGN_OR_RETURN(uint8_t v, ReadLE<uint8_t>());
      if (v > 5) return Err("unknown pickle protocol " + std::to_string(v));
      return Status::OK();
    }
    case 0x95:  // FRAME: a length hint only
      return ReadLE<uint64_t>().status();
    case '(':
      marks_.push_back(stack_.size());
      return Status::OK();
    case '0':
      return Pop().status();
    case '1':
      return PopMark().status();
    case '2': {  // DUP
      CAIRN_ASSIGN_OR_RETURN(Value * top, Top());
      CAIRN_RETURN_IF_ERROR(Charge(*top));
      stack_.push_back(*top);
      return Status::OK();
    }
    case 'N':
      stack_.emplace_back();
      return Status::OK();
    case 0x88:
      stack_.push_back(Value::Bool(true));
      return Status::OK();
    case 0x89:
      stack_.push_back(Value::Bool(false));
      return Status::OK();
    case 'J': {
      CAIRN_ASSIGN_OR_RETURN(int32_t v, ReadLE<int32_t>());
      return PushInt(v);
    }
    case 'K': {
      CAIRN_ASSIGN_OR_RETURN(uint8_t v, ReadLE<uint8_t>());
      return PushInt(v);
    }
    case 'M': {
      CAIRN_ASSIGN_OR_RETURN(uint16_t v, ReadLE<uint16_t>());
      return PushInt(v);
    }
    case 0x8a: {  // LONG1
      CAIRN_ASSIGN_OR_RETURN(uint8_t n, ReadLE<uint8_t>());
      return PushLong(n);
    }
    case 0x8b: {  // LONG4
      CAIRN_ASSIGN_OR_RETURN(int32_t n, ReadLE<int32_t>());
      if (n < 0) return Err("negative LONG4 size");
      return PushLong(static_cast<size_t>(n));
    }
    case 'G': {  // BINFLOAT, big-endian
      CAIRN_RETURN_IF_ERROR(Need(8));
      uint64_t u = 0;
      for (int i = 0; i < 8; ++i) u = (u << 8) | *p_++;
      double d;
      std::memcpy(&d, &u, 8);
      stack_.push_back(Value::Float(d));
      return Status::OK();
    }
    case 'X':     // BINUNICODE
    case 0x8c:    // SHORT_BINUNICODE
    case 0x8d:    // BINUNICODE8
    case 'T':     // BINSTRING (Python 2 str)
    case 'U':     // SHORT_BINSTRING
    case 'B':     // BINBYTES
    case 'C':     // SHORT_BINBYTES
    case 0x8e: {  // BINBYTES8
      uint64_t n;
      if (op == 0x8c || op == 'U' || op == 'C') {
        CAIRN_ASSIGN_OR_RETURN(uint8_t v, ReadLE<uint8_t>());
        n = v;
      } else if (op == 0x8d || op == 0x8e) {
        CAIRN_ASSIGN_OR_RETURN(n, ReadLE<uint64_t>());
      } else {
        CAIRN_ASSIGN_OR_RETURN(uint32_t v, ReadLE<uint32_t>());
        n = v;
      }
      CAIRN_ASSIGN_OR_RETURN(std::string s, ReadBytes(n));
      bool is_bytes = op == 'B' || op == 'C' || op == 0x8e;
      stack_.push_back(is_bytes ? Value::BytesValue(std::move(s)) : Value::String(std::move(s)));
      return Status::OK();
    }
    case ']':
      stack_.push_back(Track(Value::List()));
      return Status::OK();
    case ')':
      stack_.push_back(Track(Value::Tuple()));
      return Status::OK();
    case '}':
      stack_.push_back(Track(Value::Dict()));
      return Status::OK();
    case 'l':    // LIST
    case 't': {  // TUPLE
      CAIRN_ASSIGN_OR_RETURN(auto items, PopMark());
      stack_.push_back(
          Track(op == 'l' ? Value::List(std::move(items)) : Value::Tuple(std::move(items))));
      return Status::OK();
    }
    case 0x85:
    case 0x86:
    case 0x87: {  // TUPLE1..3
      size_t n = op - 0x84u;
      if (stack_.size() < Floor() + n) return Err("TUPLE on a short stack");
      std::vector<Value> items(std::make_move_iterator(stack_.end() - n),
                               std::make_move_iterator(stack_.end()));
      stack_.resize(stack_.size() - n);
      stack_.push_back(Track(Value::Tuple(std::move(items))));
      return Status::OK();
    }
    case 'a':    // APPEND
    case 'e': {  // APPENDS
      std::vector<Value> items;
      if (op == 'a') {
        CAIRN_ASSIGN_OR_RETURN(Value v, Pop());
        items.push_back(std::move(v));
      } else {
        CAIRN_ASSIGN_OR_RETURN(items, PopMark());
      }
      CAIRN_ASSIGN_OR_RETURN(Value * list, Top());
      if (list->kind() != Value::Kind::kList) return Err("APPEND to something not a list");
      for (auto& v : items) list->list().items.push_back(std::move(v));
      return Status::OK();
    }
    case 'd':    // DICT
    case 's':    // SETITEM
    case 'u': {  // SETITEMS
      std::vector<Value> kv;
      if (op == 's') {
        CAIRN_ASSIGN_OR_RETURN(Value v, Pop());
        CAIRN_ASSIGN_OR_RETURN(Value k, Pop());
        kv = {std::move(k), std::move(v)};
      } else {
        CAIRN_ASSIGN_OR_RETURN(kv, PopMark());
      }
      if (kv.size() % 2) return Err("odd number of dict items");
      Value target;
      if (op == 'd') {
        target = Track(Value::Dict());
      } else {
        CAIRN_ASSIGN_OR_RETURN(Value * top, Top());
        if (!top->is_dict()) return Err("SETITEM on something not a dict");
        target = *top;
      }
      for (size_t i = 0; i < kv.size(); i += 2) {
        if (kv[i].HashKey().empty()) return Err("unhashable dict key");
        target.dict().Set(std::move(kv[i]), std::move(kv[i + 1]));
      }
      if (op == 'd') stack_.push_back(std::move(target));
      return Status::OK();
    }
    case 'h':    // BINGET
    case 'j': {  // LONG_BINGET
      uint64_t idx;
      if (op == 'h') {
        CAIRN_ASSIGN_OR_RETURN(uint8_t v, ReadLE<uint8_t>());
        idx = v;
      } else {
        CAIRN_ASSIGN_OR_RETURN(uint32_t v, ReadLE<uint32_t>());
        idx = v;
      }
      auto it = memo_.find(idx);
      if (it == memo_.end()) return Err("memo entry " + std::to_string(idx) + " is missing");
      CAIRN_RETURN_IF_ERROR(Charge(it->second));
      stack_.push_back(it->second);
      return Status::OK();
    }
    case 'q':     // BINPUT
    case 'r':     // LONG_BINPUT
    case 0x94: {  // MEMOIZE
      uint64_t idx = memo_.size();
      if (op == 'q') {
        CAIRN_ASSIGN_OR_RETURN(uint8_t v, ReadLE<uint8_t>());
        idx = v;
      } else if (op == 'r') {
        CAIRN_ASSIGN_OR_RETURN(uint32_t v, ReadLE<uint32_t>());
        idx = v;
      }
      CAIRN_ASSIGN_OR_RETURN(Value * top, Top());
      memo_[idx] = *top;
      return Status::OK();
    }
    case 'c':     // GLOBAL
    case 0x93: {  // STACK_GLOBAL
      std::string module, name;
      if (op == 'c') {
        CAIRN_ASSIGN_OR_RETURN(module, ReadLine());
        CAIRN_ASSIGN_OR_RETURN(name, ReadLine());
      } else {
        CAIRN_ASSIGN_OR_RETURN(Value n, Pop());
        CAIRN_ASSIGN_OR_RETURN(Value m, Pop());
        if (n.kind() != Value::Kind::kString || m.kind() != Value::Kind::kString) {
          return Err("STACK_GLOBAL of non-strings");
        }
        module = m.as_string();
        name = n.as_string();
      }
      CAIRN_ASSIGN_OR_RETURN(Global g, ResolveGlobal(module, name));
      Value marker = Track(Value::Tuple());
      globals_.emplace(&marker.tuple(), std::move(g));
      stack_.push_back(std::move(marker));
      return Status::OK();
    }
    case 'R':     // REDUCE
    case 0x81: {  // NEWOBJ (cls.__new__(cls, *args)): only OrderedDict
      CAIRN_ASSIGN_OR_RETURN(Value args, Pop());
      CAIRN_ASSIGN_OR_RETURN(Value callable, Pop());
      const Global* g = AsGlobal(callable);
      if (op == 0x81 && (g == nullptr || g->kind != GlobalKind::kOrderedDict)) {
        return Status::Unsupported("NEWOBJ of anything but OrderedDict");
      }
      return Reduce(callable, args);
    }
    case 'b': {  // BUILD
      CAIRN_ASSIGN_OR_RETURN(Value state, Pop());
      CAIRN_ASSIGN_OR_RETURN(Value * inst, Top());
      if (inst->is_dict() && inst->dict().ordered && state.is_dict()) {
        for (auto& [k, v] : state.dict().items) {
          if (k.kind() != Value::Kind::kString) return Err("attribute name is not a string");
          inst->dict().attrs.emplace_back(k.as_string(), v);
        }
        return Status::OK();
      }
      if (inst->is_tensor() && state.is_none()) return Status::OK();
      return Status::Unsupported("object state (BUILD) on anything but an OrderedDict");
    }
    case 'Q': {  // BINPERSID
      CAIRN_ASSIGN_OR_RETURN(Value pid, Pop());
      return PersistentLoad(pid);
    }
    case 'i':
    case 'o':
    case 0x92:
    case 0x82:
    case 0x83:
    case 0x84:
      return Status::Unsafe("pickle opcode 0x" + ToHex(&op, 1) +
                            " builds arbitrary objects; cairn refuses it");
    default:
      return Status::Unsupported("pickle opcode 0x" + ToHex(&op, 1) + " at byte " +
                                 std::to_string(pos_) + " is not supported");
  }
}

}  // namespace

Result<Value> Unpickle(const uint8_t* data, size_t size, const StorageLoader& load) {
  Unpickler u(data, size, load);
  return u.Run();
}

}  // namespace cairn::pickle
