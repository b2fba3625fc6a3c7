// AddTags, ListTags, DeleteTags on any resource with an ARN, and the Tags given to Create*: one
// JSON object of key -> value per resource at layout::TagsKey(arn). The SDK copies tags with
// ListTags on update_endpoint and attach. Limits as SageMaker's: 50 tags, keys of 1-128 and
// values of 0-256 characters.
#include "api.h"
#include "cairn/registry/layout.h"

namespace cairn::api {

namespace {

Result<Json> Load(Context& c, const std::string& arn) {
  auto text = GetString(c.registry.store(), layout::TagsKey(arn));
  if (text.status().code() == Status::Code::kNotFound) return Json::object();
  if (!text.ok()) return text.status();
  Json j = Json::parse(*text, nullptr, false);
  if (!j.is_object()) return Status::Corrupt(layout::TagsKey(arn) + " is not a JSON object");
  return j;
}

Status CheckArn(Context& c, const std::string& arn) {
  const std::string mine = "arn:aws:sagemaker:" + c.options.region + ":" + c.options.account + ":";
  if (arn.compare(0, mine.size(), mine) != 0 || arn.find('/') == std::string::npos ||
      arn.size() > 256)
    return Status::InvalidArgument("ResourceArn " + arn + " is not a SageMaker resource of " +
                                   mine + "<kind>/<name>");
  return Status::OK();
}

Json TagList(const Json& tags) {
  Json list = Json::array();
  for (const auto& [k, v] : tags.items()) list.push_back({{"Key", k}, {"Value", v}});
  return list;
}

}  // namespace

Status SaveTags(Context& c, const std::string& arn, const Json& tags) {
  if (!tags.is_array()) return Status::InvalidArgument("Tags must be a list of {Key, Value}");
  CAIRN_ASSIGN_OR_RETURN(Json current, Load(c, arn));
  for (const auto& t : tags) {
    const std::string key = t.value("Key", "");
    if (key.empty() || key.size() > 128 || t.value("Value", "").size() > 256)
      return Status::InvalidArgument("a tag Key has 1-128 characters and its Value 0-256");
    current[key] = t.value("Value", "");
  }
  if (current.size() > 50) return Status::InvalidArgument("a resource has at most 50 tags");
  return PutString(c.registry.store(), layout::TagsKey(arn), current.dump()).status();
}

Result<Json> AddTags(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string arn, RequiredString(in, "ResourceArn", 256));
  CAIRN_RETURN_IF_ERROR(CheckArn(c, arn));
  CAIRN_RETURN_IF_ERROR(SaveTags(c, arn, in.value("Tags", Json::array())));
  CAIRN_ASSIGN_OR_RETURN(const Json tags, Load(c, arn));
  return Json{{"Tags", TagList(tags)}};
}

Result<Json> ListTags(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string arn, RequiredString(in, "ResourceArn", 256));
  CAIRN_RETURN_IF_ERROR(CheckArn(c, arn));
  CAIRN_ASSIGN_OR_RETURN(const Json tags, Load(c, arn));
  return Page(TagList(tags), in, "Tags");
}

Result<Json> DeleteTags(Context& c, const Json& in) {
  CAIRN_ASSIGN_OR_RETURN(const std::string arn, RequiredString(in, "ResourceArn", 256));
  CAIRN_RETURN_IF_ERROR(CheckArn(c, arn));
  CAIRN_ASSIGN_OR_RETURN(Json tags, Load(c, arn));
  for (const auto& k : in.value("TagKeys", Json::array())) tags.erase(k.get<std::string>());
  CAIRN_RETURN_IF_ERROR(PutString(c.registry.store(), layout::TagsKey(arn), tags.dump()).status());
  return Json::object();
}

}  // namespace cairn::api
