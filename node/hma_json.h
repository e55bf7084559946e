// HmaJson: JSON text exactly as HMA (Flask's default JSON provider) writes it, so that clients written against
// HMA — some compare response bodies byte for byte — read the same bytes: object keys sorted at every level,
// compact separators, floats as Python's repr ("1.0", "0.5"), non-ASCII escaped as \uXXXX, and a final "\n".
// Also HMA's error body {"message": ...}. Stateless; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "node/http_types.h"

namespace hashbank {

std::string HmaJsonText(const boost::json::value& v);
HttpResponse HmaJson(int status, const boost::json::value& v);
// {"message": "<message>"}\n, as HMA's API error handler answers.
HttpResponse HmaError(int status, std::string_view message);
// Werkzeug's own HTML pages for 404 and 405 (HMA answers unknown paths and methods with them).
HttpResponse HmaRoutingError(int status);
// pydantic's 422 for a missing required field: [{"type":"missing","loc":[field],"msg":"Field required",...}].
HttpResponse HmaMissingField(std::string_view field, const boost::json::value& input);

}  // namespace hashbank
