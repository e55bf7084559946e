// Ids on both sides of the node-id rule, shared by the rule's own test and the test that every caller agrees.
#pragma once

#include <string>
#include <vector>

namespace hashbank::testing {

inline std::vector<std::string> ValidNodeIds() {
  return {
      "a",       "0",  "z9", "local", "node-1", "node-a",  "eu.west_2",
      "a.b_c-9", "9-", "a.", "a_",    "a..b",   "0.0.0.0", std::string(64, 'z'),
  };
}

// With what is wrong, as the message of ValidateNodeId.
struct InvalidNodeId {
  std::string id;
  std::string message;
};

inline std::vector<InvalidNodeId> InvalidNodeIds() {
  return {
      {"", "node id is empty"},
      {std::string(65, 'a'), "node id is 65 characters, the limit is 64"},
      {std::string(1000, 'a'), "node id is 1000 characters, the limit is 64"},
      {"Node", "node id has a character outside [a-z0-9._-] at position 0"},
      {"node-A", "node id has a character outside [a-z0-9._-] at position 5"},
      {"a b", "node id has a character outside [a-z0-9._-] at position 1"},
      {"a/b", "node id has a character outside [a-z0-9._-] at position 1"},
      {"a:b", "node id has a character outside [a-z0-9._-] at position 1"},
      {"a%2fb", "node id has a character outside [a-z0-9._-] at position 1"},
      {"a\"b", "node id has a character outside [a-z0-9._-] at position 1"},
      {"a\\b", "node id has a character outside [a-z0-9._-] at position 1"},
      {"a\tb", "node id has a character outside [a-z0-9._-] at position 1"},
      {"a\nb", "node id has a character outside [a-z0-9._-] at position 1"},
      {"n\xc3\xa9", "node id has a character outside [a-z0-9._-] at position 1"},  // "né"
      {"\xc3\xa9", "node id has a character outside [a-z0-9._-] at position 0"},   // "é"
      {std::string("a\0b", 3), "node id has a character outside [a-z0-9._-] at position 1"},
      {"-a", "node id must start with a letter or a digit"},
      {".a", "node id must start with a letter or a digit"},
      {"_a", "node id must start with a letter or a digit"},
      {".", "node id must start with a letter or a digit"},
      {"..", "node id must start with a letter or a digit"},
      {"-", "node id must start with a letter or a digit"},
      // Characters are checked before the first one's kind.
      {".A", "node id has a character outside [a-z0-9._-] at position 1"},
      {std::string(64, '-'), "node id must start with a letter or a digit"},
  };
}

}  // namespace hashbank::testing
