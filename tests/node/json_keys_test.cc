// FindDuplicateKey: the cases a hand-written scan would get wrong (escaped keys, the same key in sibling or
// nested objects, keys that look like string values).
#include "node/json_keys.h"

#include <gtest/gtest.h>

#include <string>

namespace hashbank {
namespace {

TEST(JsonKeysTest, FindsATopLevelDuplicate) {
  EXPECT_EQ(FindDuplicateKey(R"({"labels":["a"],"labels":["b"]})"), "labels");
}

TEST(JsonKeysTest, ComparesKeysAfterUnescaping) {
  EXPECT_EQ(FindDuplicateKey(R"({"pdq":"00","p\u0064q":"11"})"), "pdq");
}

TEST(JsonKeysTest, FindsADuplicateInANestedObjectInsideAnArray) {
  EXPECT_EQ(FindDuplicateKey(R"({"signals":[{"md5":"a"},{"md5":"b","x":{"k":1,"k":2}}]})"), "k");
}

TEST(JsonKeysTest, TheSameKeyInDifferentObjectsIsNoDuplicate) {
  EXPECT_EQ(FindDuplicateKey(R"({"a":{"a":1},"b":{"a":2},"c":[{"a":3},{"a":4}]})"), std::nullopt);
  // A key equal to a string value is no duplicate either.
  EXPECT_EQ(FindDuplicateKey(R"({"a":"b","b":"a"})"), std::nullopt);
  // After an inner object closes, its keys do not count against the outer one.
  EXPECT_EQ(FindDuplicateKey(R"({"x":{"y":1},"y":2})"), std::nullopt);
}

TEST(JsonKeysTest, MalformedOrTooDeepTextIsNotThisFunctionsToReport) {
  EXPECT_EQ(FindDuplicateKey(R"({"a":1,"a)"), std::nullopt);  // the text ends inside the second key
  EXPECT_EQ(FindDuplicateKey("[[[[{\"a\":1,\"a\":2}]]]]", 3), std::nullopt);
  EXPECT_EQ(FindDuplicateKey("[[[[{\"a\":1,\"a\":2}]]]]", 16), "a");
}

TEST(JsonKeysTest, ATruncatedKeyEndsAtACharacterBoundary) {
  const std::string key = std::string(63, 'k') + "\xc3\xa9" + "tail";  // 'é' straddles byte 64
  const auto d = FindDuplicateKey("{\"" + key + "\":1,\"" + key + "\":2}");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(*d, std::string(63, 'k'));
}

TEST(JsonKeysTest, ALongKeyIsNamedTruncated) {
  const std::string key(200, 'k');
  const auto d = FindDuplicateKey("{\"" + key + "\":1,\"" + key + "\":2}");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(*d, std::string(64, 'k'));
}

}  // namespace
}  // namespace hashbank
