#include "node/hma_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace hashbank {
namespace {

namespace json = boost::json;

void AppendString(std::string* out, std::string_view s) {
  out->push_back('"');
  // UTF-8 in, ASCII out: Python's ensure_ascii escapes every code point over 0x7f (as surrogate pairs above
  // the BMP). Invalid UTF-8 cannot come from boost::json values built from parsed JSON; a stray byte is
  // written as U+FFFD.
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp = c;
    size_t len = 1;
    if (c >= 0x80) {
      len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
      if (len == 0 || i + len > s.size()) {
        cp = 0xfffd;
        len = 1;
      } else {
        cp = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
        for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
      }
    }
    i += len;
    char buf[16];
    auto hex4 = [&](uint32_t u) {
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out->append(buf);
    };
    switch (cp) {
      case '"': out->append("\\\""); continue;
      case '\\': out->append("\\\\"); continue;
      case '\n': out->append("\\n"); continue;
      case '\r': out->append("\\r"); continue;
      case '\t': out->append("\\t"); continue;
      case '\b': out->append("\\b"); continue;
      case '\f': out->append("\\f"); continue;
      default: break;
    }
    if (cp < 0x20) {
      hex4(cp);
    } else if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x10000) {
      hex4(cp);
    } else {
      cp -= 0x10000;
      hex4(0xd800 + (cp >> 10));
      hex4(0xdc00 + (cp & 0x3ff));
    }
  }
  out->push_back('"');
}

void AppendDouble(std::string* out, double d) {
  if (std::isnan(d)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(d)) {
    out->append(d > 0 ? "Infinity" : "-Infinity");
    return;
  }
  // Python's repr: the shortest digits that round-trip, written positionally when the decimal exponent is
  // -4..15 (0.0005, 1.0, 1e+16, 5e-05), always with a point or an exponent.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<size_t>(end - buf));
  const size_t e = sci.find('e');
  std::string_view mantissa = sci.substr(0, e);
  const int exp = std::stoi(std::string(sci.substr(e + 1)));
  const bool negative = mantissa.front() == '-';
  if (negative) mantissa.remove_prefix(1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits.push_back(c);
  }
  std::string text = negative ? "-" : "";
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      text += "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    } else if (static_cast<size_t>(exp) + 1 >= digits.size()) {
      text += digits + std::string(static_cast<size_t>(exp) + 1 - digits.size(), '0') + ".0";
    } else {
      text += digits.substr(0, static_cast<size_t>(exp) + 1) + "." + digits.substr(static_cast<size_t>(exp) + 1);
    }
  } else {
    text += digits.substr(0, 1);
    if (digits.size() > 1) text += "." + digits.substr(1);
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    text += ebuf;
  }
  out->append(text);
}

void Append(std::string* out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: out->append("null"); return;
    case json::kind::bool_: out->append(v.get_bool() ? "true" : "false"); return;
    case json::kind::int64: out->append(std::to_string(v.get_int64())); return;
    case json::kind::uint64: out->append(std::to_string(v.get_uint64())); return;
    case json::kind::double_: AppendDouble(out, v.get_double()); return;
    case json::kind::string: AppendString(out, v.get_string()); return;
    case json::kind::array: {
      out->push_back('[');
      bool first = true;
      for (const json::value& x : v.get_array()) {
        if (!first) out->push_back(',');
        first = false;
        Append(out, x);
      }
      out->push_back(']');
      return;
    }
    case json::kind::object: {
      std::vector<const json::key_value_pair*> items;
      for (const json::key_value_pair& kv : v.get_object()) items.push_back(&kv);
      std::sort(items.begin(), items.end(), [](const auto* a, const auto* b) { return a->key() < b->key(); });
      out->push_back('{');
      bool first = true;
      for (const json::key_value_pair* kv : items) {
        if (!first) out->push_back(',');
        first = false;
        AppendString(out, kv->key());
        out->push_back(':');
        Append(out, kv->value());
      }
      out->push_back('}');
      return;
    }
  }
}

}  // namespace

std::string HmaJsonText(const json::value& v) {
  std::string out;
  Append(&out, v);
  out.push_back('\n');
  return out;
}

HttpResponse HmaJson(int status, const json::value& v) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = HmaJsonText(v);
  return r;
}

HttpResponse HmaError(int status, std::string_view message) {
  json::object o;
  o["message"] = message;
  return HmaJson(status, o);
}

HttpResponse HmaRoutingError(int status) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  if (status == 405) {
    r.body = "<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n"
             "<p>The method is not allowed for the requested URL.</p>\n";
  } else {
    r.status = 404;
    r.body = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
             "<p>The requested URL was not found on the server. If you entered the URL manually please check your "
             "spelling and try again.</p>\n";
  }
  return r;
}

HttpResponse HmaMissingField(std::string_view field, const json::value& input) {
  // pydantic's own text: key order type, loc, msg, input, url (not sorted), no final newline.
  std::string body = "[{\"type\":\"missing\",\"loc\":[";
  std::string f = HmaJsonText(json::value(json::string(field)));
  f.pop_back();
  body += f;
  body += "],\"msg\":\"Field required\",\"input\":";
  std::string in = HmaJsonText(input);
  in.pop_back();
  body += in;
  body += ",\"url\":\"https://errors.pydantic.dev/2.13/v/missing\"}]";
  HttpResponse r;
  r.status = 422;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

}  // namespace hashbank
