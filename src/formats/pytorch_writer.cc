#include <algorithm>

#include "cairn/formats/pytorch.h"
#include "pickle.h"
#include "zip.h"

namespace cairn {

Status WritePyTorch(const std::string& path, const Value& root, const WriteOptions& options) {
  std::vector<std::shared_ptr<const Storage>> storages;
  CAIRN_ASSIGN_OR_RETURN(std::string pkl, pickle::Pickle(root, &storages));
  // Like torch.save, name the archive's folder after the file ("model.pth" -> "model/").
  std::string base = path.substr(path.find_last_of('/') + 1);
  if (auto dot = base.rfind('.'); dot != std::string::npos && dot > 0) base.resize(dot);
  if (base.empty()) base = "archive";
  static const std::string kVersion = "3\n";
  std::vector<zip::Record> records;
  records.push_back(
      {base + "/data.pkl", {{reinterpret_cast<const uint8_t*>(pkl.data()), pkl.size()}}});
  for (size_t i = 0; i < storages.size(); ++i) {
    records.push_back(
        {base + "/data/" + std::to_string(i), {{storages[i]->data, storages[i]->nbytes}}});
  }
  records.push_back(
      {base + "/version", {{reinterpret_cast<const uint8_t*>(kVersion.data()), kVersion.size()}}});
  CAIRN_ASSIGN_OR_RETURN(auto out, AtomicFileWriter::Create(path));
  CAIRN_RETURN_IF_ERROR(zip::Write(*out, records));
  return out->Commit(options.sync);
}

}  // namespace cairn
