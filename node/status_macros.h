// Early returns for absl::Status / absl::StatusOr in handler code: errors are values, never exceptions.
//   HB_RETURN_IF_ERROR(status_expr);
//   HB_ASSIGN_OR_RETURN(auto x, statusor_expr);   // returns the error, else moves the value into x
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HB_RETURN_IF_ERROR(expr)                    \
  do {                                              \
    if (absl::Status hb_status_ = (expr); !hb_status_.ok()) return hb_status_; \
  } while (0)

#define HB_STATUS_CONCAT_INNER(a, b) a##b
#define HB_STATUS_CONCAT(a, b) HB_STATUS_CONCAT_INNER(a, b)
#define HB_ASSIGN_OR_RETURN(lhs, expr) HB_ASSIGN_OR_RETURN_IMPL(HB_STATUS_CONCAT(hb_statusor_, __LINE__), lhs, expr)
#define HB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(*tmp)
