// The member API's import routes (routes in member_api.cc; node/import_step.h does the work): `hashbank
// import` against a running node sends its batches here instead of opening the database.
//   POST /v1/import        (admin) one batch and the import's progress, in one durable write
//   GET  /v1/import/{key}  (admin) the progress recorded under a key: where a resumed import starts
#include <boost/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "node/api_support.h"
#include "node/import_step.h"
#include "node/member_api.h"
#include "node/status_macros.h"

namespace hashbank {

using namespace ::hashbank::api;  // NOLINT(google-build-using-namespace): the API's own helpers

absl::StatusOr<HttpResponse> MemberApi::ImportBatch(const Call& call) {
  HB_ASSIGN_OR_RETURN(ImportRequest req, ParseImportRequest(call.request.body, limits().max_batch_items));
  if (!bank_->BankConfigured(req.bank)) {
    if (!req.create_bank) {
      return absl::NotFoundError(absl::StrCat("no bank ", req.bank, " on this node: pass --create-bank, or create it with POST /c/banks"));
    }
    BankConfig c;
    c.name = req.bank;
    if (auto made = bank_->CreateBank(c, *call.actor); !made.ok() && !absl::IsAlreadyExists(made.status())) {
      return made.status();
    }
  }
  HB_ASSIGN_OR_RETURN(const ImportStepResult result,
                      ImportStep(*bank_, req.bank, req.key, req.from, req.consumed, std::move(req.records), *call.actor));
  HttpResponse r;
  r.status = 200;
  r.content_type = "application/json";
  r.body = ImportResultJson(result, req.consumed);
  return r;
}

absl::StatusOr<HttpResponse> MemberApi::ImportProgress(const Call& call) {
  HB_ASSIGN_OR_RETURN(const uint64_t consumed, ReadImportProgress(*bank_, call.path_id));
  return Json(200, json::object{{"key", call.path_id}, {"consumed", consumed}});
}

}  // namespace hashbank
