// The restricted unpickler. It interprets pickle opcodes as a small stack machine that can only
// build values (None, bool, int, float, str, bytes, list, tuple, dict) and, through a fixed table
// of known globals, tensors. There is no path to import or call anything else.
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "unpickler.h"

namespace cairn::pickle {

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
        // Each container once: memo-shared ones would otherwise be walked once per reference.
        if (auto* seq = v.sequence()) {
          if (!keep_.insert(seq).second) continue;
          todo.insert(todo.end(), seq->begin(), seq->end());
        } else if (v.is_dict()) {
          if (!keep_.insert(&v.dict()).second) continue;
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
    case 'i': {  // INST: names its class inline, then instantiates it
      CAIRN_ASSIGN_OR_RETURN(std::string module, ReadLine());
      CAIRN_ASSIGN_OR_RETURN(std::string name, ReadLine());
      CAIRN_RETURN_IF_ERROR(ResolveGlobal(module, name).status());
      return Status::Unsupported("pickle opcode INST (protocol 0) is not supported");
    }
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

Result<Value> Unpickle(const uint8_t* data, size_t size, const StorageLoader& load) {
  Unpickler u(data, size, load);
  return u.Run();
}

}  // namespace cairn::pickle
