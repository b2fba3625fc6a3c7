// The globals the unpickler knows, and what calling each one builds.
#include "unpickler.h"

namespace cairn::pickle {

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

}  // namespace cairn::pickle
