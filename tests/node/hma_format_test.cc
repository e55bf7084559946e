// The HMA layer's two parsers and writers on their own: multipart/form-data bodies (RFC 7578 examples and
// malformed ones) and Flask-shaped JSON bytes (sorted keys, Python floats, ensure_ascii, final newline).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "node/hma_json.h"
#include "node/multipart.h"

namespace hashbank {
namespace {

namespace json = boost::json;
using namespace std::string_literals;  // NOLINT(google-build-using-namespace): a body with a NUL byte

TEST(MultipartTest, SplitsFieldsAndFilesWithTheirNames) {
  const std::string body =
      "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
      "--XyZ\r\ncontent-disposition: form-data; name=\"photo\"; filename=\"a \\\"b\\\".jpg\"\r\n"
      "Content-Type: image/jpeg\r\n\r\n\x00\xff\r\nx--XyZ binary\r\n--XyZ--\r\nepilogue"s;
  auto parts = ParseMultipart("multipart/form-data; boundary=\"XyZ\"", std::string_view(body.data(), body.size()));
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "note");
  EXPECT_FALSE((*parts)[0].filename);
  EXPECT_EQ((*parts)[0].data, "hello");
  EXPECT_EQ((*parts)[1].name, "photo");
  EXPECT_EQ((*parts)[1].filename, "a \"b\".jpg");
  EXPECT_EQ((*parts)[1].content_type, "image/jpeg");
  // The data runs to the CRLF before the next delimiter; a NUL, inner CRLFs and a "--XyZ" not at a line start kept.
  EXPECT_EQ((*parts)[1].data, "\x00\xff\r\nx--XyZ binary"s);
}

TEST(MultipartTest, RefusesMalformedBodies) {
  const char* ct = "multipart/form-data; boundary=B";
  EXPECT_FALSE(MultipartBoundary("application/json"));
  EXPECT_FALSE(MultipartBoundary("multipart/form-data"));
  for (std::string body : {std::string(""), std::string("--B\r\n"),
                           std::string("--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nunterminated"),
                           std::string("--B\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n--B--"),
                           std::string("--B\r\nContent-Disposition: attachment; name=\"x\"\r\n\r\nv\r\n--B--"),
                           std::string("--B\r\nno colon\r\n\r\nv\r\n--B--")}) {
    EXPECT_FALSE(ParseMultipart(ct, body).ok()) << body;
  }
  std::string many;
  for (size_t i = 0; i <= kMaxMultipartParts; ++i) many += "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n";
  many += "--B--";
  EXPECT_FALSE(ParseMultipart(ct, many).ok());
}

TEST(HmaJsonTest, WritesWhatFlasksJsonProviderWrites) {
  // Expected bytes: Python's json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n".
  json::value v = json::parse(R"({"name": "X", "matching_enabled_ratio": 1.0, "nested": {"b": [0.5, 2], "a": null},
                                  "t": "caf\u00e9 \ud83d\ude00 \"q\"\n"})");
  EXPECT_EQ(HmaJsonText(v),
            "{\"matching_enabled_ratio\":1.0,\"name\":\"X\",\"nested\":{\"a\":null,\"b\":[0.5,2]},"
            "\"t\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\\n\"}\n");
  EXPECT_EQ(HmaJsonText(json::value(0.1)), "0.1\n");
  EXPECT_EQ(HmaJsonText(json::value(0.0)), "0.0\n");
  EXPECT_EQ(HmaJsonText(json::value(-3.0)), "-3.0\n");
  // Python: repr(0.0005) '0.0005', repr(5e-05) '5e-05', repr(1e16) '1e+16', repr(123456.75) '123456.75',
  // repr(1e15) '1000000000000000.0', repr(-0.25) '-0.25'.
  EXPECT_EQ(HmaJsonText(json::value(0.0005)), "0.0005\n");
  EXPECT_EQ(HmaJsonText(json::value(5e-05)), "5e-05\n");
  EXPECT_EQ(HmaJsonText(json::value(1e16)), "1e+16\n");
  EXPECT_EQ(HmaJsonText(json::value(123456.75)), "123456.75\n");
  EXPECT_EQ(HmaJsonText(json::value(1e15)), "1000000000000000.0\n");
  EXPECT_EQ(HmaJsonText(json::value(-0.25)), "-0.25\n");
  EXPECT_EQ(HmaError(404, "bank 'X' not found").body, "{\"message\":\"bank 'X' not found\"}\n");
}

}  // namespace
}  // namespace hashbank
