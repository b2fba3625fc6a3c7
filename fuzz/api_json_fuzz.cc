// Fuzzes the decoding of cairn server's requests and records (src/api): the JSON bodies of
// SageMaker operations (production variants, DeploymentConfig, CreateTransformJob), the query
// forms of CloudWatch's PutMetricAlarm, and every record read back from the store. As dispatch.cc
// does, a nlohmann::json exception (a field of the wrong type) is an answered error; anything
// else escaping, or a crash, is a bug.
#include <cstdint>
#include <string>

#include "api/alarms.h"
#include "api/deployment.h"
#include "api/endpoint_fleet.h"
#include "api/records.h"
#include "api/transform_jobs.h"
#include "cairn/net/url.h"

using cairn::api::Json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  try {
    const Json j = Json::parse(in, nullptr, false);
    if (!j.is_discarded()) {
      (void)cairn::api::ParseVariants(j.is_object() ? j.value("ProductionVariants", j) : j);
      (void)cairn::api::PlanDeployment(j, 3);
      if (j.is_object()) (void)cairn::api::ValidateTransformRequest(j);
      (void)cairn::api::ModelRecord::FromJson(j);
      (void)cairn::api::EndpointConfigRecord::FromJson(j);
      (void)cairn::api::EndpointRecord::FromJson(j);
      (void)cairn::api::AlarmRecord::FromJson(j);
      (void)cairn::api::TransformJobRecord::FromJson(j);
    }
    std::map<std::string, std::string> form;
    for (auto& [k, v] : cairn::net::ParseForm(in)) form[k] = v;
    (void)cairn::api::AlarmFromForm(form);
    int64_t records = 0;
    (void)cairn::api::TransformBatches(in, true, size % 2 == 0, 64, &records);
    (void)cairn::api::TransformBatches(in, false, true, 64, &records);
  } catch (const Json::exception&) {
    // dispatch.cc answers these with a ValidationException
  }
  return 0;
}
