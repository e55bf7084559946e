// The node-id rule (base/node_id.h): exactly which ids pass, and the message for each that does not.
#include "base/node_id.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/base/node_id_cases.h"

namespace hashbank {
namespace {

using ::hashbank::testing::InvalidNodeId;
using ::hashbank::testing::InvalidNodeIds;
using ::hashbank::testing::ValidNodeIds;

TEST(NodeIdTest, ValidIdsPass) {
  for (const std::string& id : ValidNodeIds()) {
    EXPECT_TRUE(ValidateNodeId(id).ok()) << id << ": " << ValidateNodeId(id);
    EXPECT_TRUE(ValidateNodeIdUnlabelled(id).ok()) << id;
  }
}

TEST(NodeIdTest, InvalidIdsAreInvalidArgumentSayingWhatIsWrong) {
  for (const InvalidNodeId& c : InvalidNodeIds()) {
    const absl::Status status = ValidateNodeId(c.id);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.id;
    EXPECT_EQ(status.message(), c.message) << c.id;
  }
}

TEST(NodeIdTest, UnlabelledMessageIsTheSameWithoutItsSubject) {
  for (const InvalidNodeId& c : InvalidNodeIds()) {
    const absl::Status status = ValidateNodeIdUnlabelled(c.id);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.id;
    EXPECT_EQ("node id " + std::string(status.message()), c.message) << c.id;
  }
}

TEST(NodeIdTest, EveryByteOutsideTheAlphabetIsRefusedAnywhere) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool lower_or_digit = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    const bool allowed = lower_or_digit || c == '.' || c == '_' || c == '-';
    EXPECT_EQ(ValidateNodeId(std::string("a") + c).ok(), allowed) << "byte " << b;
    EXPECT_EQ(ValidateNodeId(std::string(1, c)).ok(), lower_or_digit) << "byte " << b;
  }
}

TEST(NodeIdTest, LengthLimitIsSixtyFourCharacters) {
  EXPECT_EQ(kMaxNodeIdLength, 64u);
  EXPECT_TRUE(ValidateNodeId(std::string(kMaxNodeIdLength, '7')).ok());
  EXPECT_FALSE(ValidateNodeId(std::string(kMaxNodeIdLength + 1, '7')).ok());
}

}  // namespace
}  // namespace hashbank
