#include "config/node_config.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/file_io.h"
#include "base/node_id.h"
#include "config/listen_address.h"
#include "config/peer_url.h"
#include "config/quoted.h"

namespace hashbank {
namespace {

// A config file is a few hundred bytes; anything this large is the wrong file.
constexpr size_t kMaxConfigFileBytes = size_t{1} << 20;
constexpr size_t kPublicKeyHexDigits = 64;
constexpr uint64_t kKiB = uint64_t{1} << 10;
constexpr uint64_t kGiB = uint64_t{1} << 30;

// ---------------------------------------------------------------------------------------------------------
// Messages. Every error about a value is "<label>: <what is wrong>", where the label is the key path
// ("api.threads") or the environment variable ("HASHBANK_API_THREADS").

absl::Status Labelled(std::string_view label, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(std::string(label), ": ", std::string(status.message())));
}

// A name taken from the input (a YAML key, a variable name), safe to print.
std::string SafeName(std::string_view name) {
  if (name.empty()) return "\"\"";
  const bool cut = name.size() > kMaxQuotedChars;
  return absl::StrCat(absl::CHexEscape(std::string(cut ? name.substr(0, kMaxQuotedChars) : name)), cut ? "..." : "");
}

// " (line L, column C)", 1-based, or "" when yaml-cpp has no position.
std::string Location(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return "";
  return absl::StrCat(" (line ", mark.line + 1, ", column ", mark.column + 1, ")");
}

absl::Status WithLocation(const absl::Status& status, const YAML::Mark& mark) {
  return absl::Status(status.code(), absl::StrCat(std::string(status.message()), Location(mark)));
}

std::string KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Scalar: return absl::StrCat("the scalar ", Quoted(node.Scalar()));
    case YAML::NodeType::Sequence: return "a sequence";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

// ---------------------------------------------------------------------------------------------------------
// Checks on one value. They return the message without the label.

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

absl::Status CheckNoNul(std::string_view value) {
  if (value.find('\0') != std::string_view::npos) return absl::InvalidArgumentError("contains a NUL character");
  return absl::OkStatus();
}

// The rule is base/node_id.h's. A complaint about the id's characters quotes the value it is about
// ("\"Node\" has a character outside [a-z0-9._-] at position 0"); "is empty" and the length need no quote.
absl::Status CheckNodeId(std::string_view id) {
  const absl::Status status = ValidateNodeIdUnlabelled(id);
  if (status.ok() || id.empty() || id.size() > kMaxNodeIdLength) return status;
  return absl::InvalidArgumentError(absl::StrCat(Quoted(id), " ", status.message()));
}

absl::Status CheckRequiredPath(std::string_view path) {
  if (path.empty()) return absl::InvalidArgumentError("is empty");
  return CheckNoNul(path);
}

absl::Status CheckListen(std::string_view listen) { return ParseListenAddress(listen).status(); }

// "" = off.
absl::Status CheckOptionalListen(std::string_view listen) {
  if (listen.empty()) return absl::OkStatus();
  return CheckListen(listen);
}

bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// The shape only: whether the digits are an Ed25519 point is for crypto/ (ParsePublicKeyHex) to say.
// An optional key's value: "" when absent (the item built in code leaves it empty).
absl::Status CheckCertificateSha256(std::string_view hex) {
  if (hex.empty()) return absl::OkStatus();
  constexpr std::string_view kExpected =
      "expected 64 hex digits (the certificate_sha256 of the member's card, from `hashbank keys show`)";
  if (hex.size() != 64) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(kExpected), ", got ", hex.size(), " characters"));
  }
  for (size_t i = 0; i < hex.size(); ++i) {
    if (!IsHexDigit(hex[i])) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(kExpected), ", got a non-hex character at position ", i));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPublicKeyHex(std::string_view hex) {
  constexpr std::string_view kExpected = "expected 64 hex digits (an Ed25519 public key, from `hashbank keys show`)";
  if (hex.size() != kPublicKeyHexDigits) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(kExpected), ", got ", hex.size(), " characters"));
  }
  for (size_t i = 0; i < hex.size(); ++i) {
    if (!IsHexDigit(hex[i])) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(kExpected), ", got ", Quoted(hex),
                                                     " with a non-hex character at position ", i));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPeerUrl(std::string_view url) { return ParsePeerUrl(url).status(); }

std::string RangeText(uint64_t min, uint64_t max) { return absl::StrCat(min, "..", max); }

// Decimal digits only: no sign, no leading zeros (YAML 1.1 would read 010 as octal), no "1_000", "0x10",
// "1e6" or surrounding spaces. A negative number or one past uint64 is reported as out of range.
absl::StatusOr<uint64_t> ParseUnsigned(std::string_view text, uint64_t min, uint64_t max) {
  std::string_view digits = text;
  const bool negative = !digits.empty() && digits.front() == '-';
  if (negative) digits.remove_prefix(1);
  bool all_digits = !digits.empty();
  for (const char c : digits) all_digits = all_digits && IsDigit(c);
  if (!all_digits) return absl::InvalidArgumentError(absl::StrCat("expected an integer, got ", Quoted(text)));
  if (digits.size() > 1 && digits.front() == '0') {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a decimal integer without leading zeros, got ", Quoted(text)));
  }
  // `text` is now known to be an optional '-' and digits: safe to print as is.
  const absl::Status out_of_range =
      absl::InvalidArgumentError(absl::StrCat(std::string(text), " is outside ", RangeText(min, max)));
  uint64_t value = 0;
  for (const char c : digits) {
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return out_of_range;
    value = value * 10 + digit;
  }
  if ((negative && value != 0) || value < min || value > max) return out_of_range;
  return value;
}

// Exactly "true" or "false": no "yes", "on", "1" or "True".
absl::StatusOr<bool> ParseBool(std::string_view text) {
  if (text == "true") return true;
  if (text == "false") return false;
  return absl::InvalidArgumentError(absl::StrCat("expected true or false, got ", Quoted(text)));
}

// The text of a YAML scalar, or "<path>: expected <expected>, got <kind> (line L, column C)".
absl::StatusOr<std::string> ScalarText(const YAML::Node& value, std::string_view path, std::string_view expected) {
  if (!value.IsScalar()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(path), ": expected ", std::string(expected), ", got ",
                                                   KindName(value), Location(value.Mark())));
  }
  return value.Scalar();
}

// ---------------------------------------------------------------------------------------------------------
// List items. A list key holds strings (ScalarItem) or mappings of string keys (RecordItem). An item is named
// "<list path>[<index>]", and a key of a record item "<list path>[<index>].<key>". The string itself, or the
// first key of a record, identifies the item: no two items of one list may share it.

using StringCheck = absl::Status (*)(std::string_view value);

std::string ItemPath(std::string_view list_path, size_t index) {
  return absl::StrCat(std::string(list_path), "[", index, "]");
}

struct ScalarItem {
  StringCheck check;
};

template <typename Item>
struct ItemKey {
  std::string_view key;  // in the file
  std::string Item::*member;
  StringCheck check;     // also given "" for an optional key that is absent
  bool optional = false;
};

template <typename Item, size_t N>
struct RecordItem {
  ItemKey<Item> keys[N];  // required unless marked optional
  // Fills the members derived from the keys, once they are read and checked (nullptr: none).
  void (*derive)(Item& item);
  // Whether the derived members agree with the keys, for items built in code (nullptr: none).
  absl::Status (*check_derived)(const Item& item);
};

absl::Status ParseItem(const ScalarItem& schema, const YAML::Node& node, std::string_view list_path, size_t index,
                       std::string* item) {
  const std::string path = ItemPath(list_path, index);
  absl::StatusOr<std::string> text = ScalarText(node, path, "a string");
  if (!text.ok()) return text.status();
  if (absl::Status s = schema.check(*text); !s.ok()) return WithLocation(Labelled(path, s), node.Mark());
  *item = *std::move(text);
  return absl::OkStatus();
}

template <typename Item, size_t N>
std::string KeyList(const RecordItem<Item, N>& schema) {
  std::string out;
  for (const ItemKey<Item>& key : schema.keys) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", std::string(key.key), key.optional ? " (optional)" : "");
  }
  return out;
}

template <typename Item, size_t N>
absl::Status ParseItem(const RecordItem<Item, N>& schema, const YAML::Node& node, std::string_view list_path,
                       size_t index, Item* item) {
  const std::string path = ItemPath(list_path, index);
  const std::string keys_text = absl::StrCat("each item of ", std::string(list_path), " has ", KeyList(schema));
  if (!node.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": expected a mapping with keys ", KeyList(schema), ", got ",
                                                   KindName(node), Location(node.Mark())));
  }
  std::set<std::string> seen;
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": expected plain key names, got ", KindName(key), Location(key.Mark())));
    }
    const std::string key_path = absl::StrCat(path, ".", SafeName(key.Scalar()));
    const ItemKey<Item>* item_key = nullptr;
    for (const ItemKey<Item>& candidate : schema.keys) {
      if (candidate.key == key.Scalar()) item_key = &candidate;
    }
    if (item_key == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(key_path, ": unknown key; ", keys_text, Location(key.Mark())));
    }
    if (!seen.insert(key.Scalar()).second) {
      return absl::InvalidArgumentError(absl::StrCat(key_path, ": duplicate key", Location(key.Mark())));
    }
    absl::StatusOr<std::string> text = ScalarText(entry.second, key_path, "a string");
    if (!text.ok()) return text.status();
    if (absl::Status s = item_key->check(*text); !s.ok()) {
      return WithLocation(Labelled(key_path, s), entry.second.Mark());
    }
    (*item).*(item_key->member) = *std::move(text);
  }
  for (const ItemKey<Item>& key : schema.keys) {
    if (!key.optional && !seen.contains(std::string(key.key))) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": missing key ", std::string(key.key), "; ", keys_text,
                                                     Location(node.Mark())));
    }
  }
  if (schema.derive != nullptr) schema.derive(*item);
  return absl::OkStatus();
}

absl::Status CheckItem(const ScalarItem& schema, const std::string& item, const std::string& path) {
  if (absl::Status s = schema.check(item); !s.ok()) return Labelled(path, s);
  return absl::OkStatus();
}

template <typename Item, size_t N>
absl::Status CheckItem(const RecordItem<Item, N>& schema, const Item& item, const std::string& path) {
  for (const ItemKey<Item>& key : schema.keys) {
    if (absl::Status s = key.check(item.*(key.member)); !s.ok()) {
      return Labelled(absl::StrCat(path, ".", std::string(key.key)), s);
    }
  }
  if (schema.check_derived != nullptr) {
    if (absl::Status s = schema.check_derived(item); !s.ok()) return Labelled(path, s);
  }
  return absl::OkStatus();
}

// What identifies an item, and the path of that value.
const std::string& ItemId(const ScalarItem&, const std::string& item) { return item; }
std::string ItemIdPath(const ScalarItem&, std::string item_path) { return item_path; }

template <typename Item, size_t N>
const std::string& ItemId(const RecordItem<Item, N>& schema, const Item& item) {
  return item.*(schema.keys[0].member);
}
template <typename Item, size_t N>
std::string ItemIdPath(const RecordItem<Item, N>& schema, const std::string& item_path) {
  return absl::StrCat(item_path, ".", std::string(schema.keys[0].key));
}

// No two items share an id. `marks` holds each item's position in the file, or is empty for a config built in
// code.
template <typename Schema, typename Item>
absl::Status CheckUniqueIds(const Schema& schema, const std::vector<Item>& items, std::string_view list_path,
                            const std::vector<YAML::Mark>& marks) {
  std::map<std::string_view, size_t> first_index;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& id = ItemId(schema, items[i]);
    const auto [first, inserted] = first_index.emplace(id, i);
    if (inserted) continue;
    return absl::InvalidArgumentError(absl::StrCat(ItemIdPath(schema, ItemPath(list_path, i)), ": duplicate ",
                                                   Quoted(id), ", also at ", ItemPath(list_path, first->second),
                                                   i < marks.size() ? Location(marks[i]) : ""));
  }
  return absl::OkStatus();
}

// The federation's items.

void DerivePeerAddress(FederationPeer& peer) {
  absl::StatusOr<PeerUrl> url = ParsePeerUrl(peer.url);  // checked already
  if (!url.ok()) return;
  peer.host = url->host;
  peer.port = url->port;
}

absl::Status CheckPeerAddress(const FederationPeer& peer) {
  absl::StatusOr<PeerUrl> url = ParsePeerUrl(peer.url);
  if (!url.ok()) return url.status();
  if (peer.host == url->host && peer.port == url->port) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("host ", Quoted(peer.host), " and port ", peer.port,
                                                 " do not match the url (host ", Quoted(url->host), ", port ",
                                                 url->port, "); take them from ParsePeerUrl"));
}

constexpr RecordItem<FederationMember, 3> kMemberItem = {
    {{"id", &FederationMember::id, CheckNodeId},
     {"public_key", &FederationMember::public_key_hex, CheckPublicKeyHex},
     {"certificate_sha256", &FederationMember::certificate_sha256, CheckCertificateSha256, true}},
    nullptr,
    nullptr,
};
constexpr RecordItem<FederationPeer, 2> kPeerItem = {
    {{"id", &FederationPeer::id, CheckNodeId}, {"url", &FederationPeer::url, CheckPeerUrl}},
    DerivePeerAddress,
    CheckPeerAddress,
};
constexpr ScalarItem kOriginIdItem = {CheckNodeId};

absl::Status CheckKeptType(std::string_view type) {
  if (type == "robust" || type == "embedding") return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(Quoted(type), " is not a type that can be kept at the origin (robust, embedding)"));
}
constexpr ScalarItem kKeptTypeItem = {CheckKeptType};

// ---------------------------------------------------------------------------------------------------------
// The schema: one row per key.

enum class Kind { kString, kUnsigned, kBool, kList };

// What a value of `kind` should look like, for "expected ..." messages.
std::string_view Expected(Kind kind) {
  switch (kind) {
    case Kind::kString: return "a string";
    case Kind::kUnsigned: return "an integer";
    case Kind::kBool: return "true or false";
    case Kind::kList: return "a list";
  }
  return "a value";
}

struct Field {
  std::string_view section;
  std::string_view key;
  std::string path;      // "api.threads"
  std::string variable;  // "HASHBANK_API_THREADS"
  Kind kind = Kind::kString;
  // String keys.
  std::string& (*mutable_string)(NodeConfig&) = nullptr;
  const std::string& (*string_value)(const NodeConfig&) = nullptr;
  StringCheck check = nullptr;
  // Unsigned keys.
  uint64_t (*unsigned_value)(const NodeConfig&) = nullptr;
  void (*set_unsigned)(NodeConfig&, uint64_t) = nullptr;
  uint64_t min = 0;
  uint64_t max = 0;
  // Boolean keys.
  bool& (*mutable_bool)(NodeConfig&) = nullptr;
  // List keys, file-only. set_list reads a YAML sequence, checking each item (errors with line and column);
  // check_list checks the list as it is (Validate). Both label errors with `path`.
  absl::Status (*set_list)(const YAML::Node& sequence, const std::string& path, NodeConfig* config) = nullptr;
  absl::Status (*check_list)(const NodeConfig& config, const std::string& path) = nullptr;
};

Field NamedField(std::string_view section, std::string_view key) {
  Field field;
  field.section = section;
  field.key = key;
  field.path = absl::StrCat(std::string(section), ".", std::string(key));
  field.variable = absl::StrCat(std::string(kEnvironmentPrefix), absl::AsciiStrToUpper(std::string(section)), "_",
                                absl::AsciiStrToUpper(std::string(key)));
  return field;
}

template <auto kSection, auto kMember>
Field StringField(std::string_view section, std::string_view key, StringCheck check) {
  Field field = NamedField(section, key);
  field.kind = Kind::kString;
  field.mutable_string = [](NodeConfig& config) -> std::string& { return (config.*kSection).*kMember; };
  field.string_value = [](const NodeConfig& config) -> const std::string& { return (config.*kSection).*kMember; };
  field.check = check;
  return field;
}

template <auto kSection, auto kMember, uint64_t kMin, uint64_t kMax>
Field UnsignedField(std::string_view section, std::string_view key) {
  using T = std::remove_cvref_t<decltype((std::declval<NodeConfig&>().*kSection).*kMember)>;
  static_assert(std::is_unsigned_v<T> && kMin <= kMax && kMax <= std::numeric_limits<T>::max());
  Field field = NamedField(section, key);
  field.kind = Kind::kUnsigned;
  field.unsigned_value = [](const NodeConfig& config) -> uint64_t { return (config.*kSection).*kMember; };
  // Only called with values in kMin..kMax, which fit T.
  field.set_unsigned = [](NodeConfig& config, uint64_t value) { (config.*kSection).*kMember = static_cast<T>(value); };
  field.min = kMin;
  field.max = kMax;
  return field;
}

template <auto kSection, auto kMember>
Field BoolField(std::string_view section, std::string_view key) {
  static_assert(std::is_same_v<std::remove_cvref_t<decltype((std::declval<NodeConfig&>().*kSection).*kMember)>, bool>);
  Field field = NamedField(section, key);
  field.kind = Kind::kBool;
  field.mutable_bool = [](NodeConfig& config) -> bool& { return (config.*kSection).*kMember; };
  return field;
}

// A std::vector of the items `kItem` describes (a ScalarItem or a RecordItem).
template <auto kSection, auto kMember, const auto& kItem>
Field ListField(std::string_view section, std::string_view key) {
  Field field = NamedField(section, key);
  field.kind = Kind::kList;
  field.set_list = [](const YAML::Node& sequence, const std::string& path, NodeConfig* config) -> absl::Status {
    auto& list = (config->*kSection).*kMember;
    std::remove_cvref_t<decltype(list)> items;
    std::vector<YAML::Mark> marks;
    for (const auto& node : sequence) {
      items.emplace_back();
      if (absl::Status s = ParseItem(kItem, node, path, items.size() - 1, &items.back()); !s.ok()) return s;
      marks.push_back(node.Mark());
    }
    if (absl::Status s = CheckUniqueIds(kItem, items, path, marks); !s.ok()) return s;
    list = std::move(items);
    return absl::OkStatus();
  };
  field.check_list = [](const NodeConfig& config, const std::string& path) -> absl::Status {
    const auto& list = (config.*kSection).*kMember;
    for (size_t i = 0; i < list.size(); ++i) {
      if (absl::Status s = CheckItem(kItem, list[i], ItemPath(path, i)); !s.ok()) return s;
    }
    return CheckUniqueIds(kItem, list, path, {});
  };
  return field;
}

using C = NodeConfig;

const std::vector<Field>& Fields() {
  static const std::vector<Field> fields = {
      StringField<&C::node, &C::NodeSection::id>("node", "id", CheckNodeId),
      StringField<&C::node, &C::NodeSection::data_dir>("node", "data_dir", CheckRequiredPath),
      StringField<&C::api, &C::ApiSection::listen>("api", "listen", CheckListen),
      StringField<&C::api, &C::ApiSection::tls_cert>("api", "tls_cert", CheckNoNul),
      StringField<&C::api, &C::ApiSection::tls_key>("api", "tls_key", CheckNoNul),
      UnsignedField<&C::api, &C::ApiSection::threads, 1, 256>("api", "threads"),
      StringField<&C::salt, &C::SaltSection::file>("salt", "file", CheckNoNul),
      UnsignedField<&C::limits, &C::LimitsSection::max_json_body_bytes, kKiB, kGiB>("limits", "max_json_body_bytes"),
      UnsignedField<&C::limits, &C::LimitsSection::max_image_body_bytes, kKiB, kGiB>("limits",
                                                                                       "max_image_body_bytes"),
      UnsignedField<&C::limits, &C::LimitsSection::max_image_pixels, 1, 10'000'000'000>("limits",
                                                                                          "max_image_pixels"),
      UnsignedField<&C::limits, &C::LimitsSection::max_batch_items, 1, 100'000>("limits", "max_batch_items"),
      UnsignedField<&C::limits, &C::LimitsSection::requests_per_second_per_token, 0, 10'000'000>(
          "limits", "requests_per_second_per_token"),
      UnsignedField<&C::limits, &C::LimitsSection::burst_per_token, 1, 100'000'000>("limits", "burst_per_token"),
      UnsignedField<&C::limits, &C::LimitsSection::request_timeout_ms, 100, 3'600'000>("limits",
                                                                                         "request_timeout_ms"),
      UnsignedField<&C::limits, &C::LimitsSection::max_concurrent_uploads, 1, 10'000>("limits", "max_concurrent_uploads"),
      UnsignedField<&C::limits, &C::LimitsSection::max_concurrent_uploads_per_token, 1, 10'000>(
          "limits", "max_concurrent_uploads_per_token"),
      UnsignedField<&C::limits, &C::LimitsSection::max_video_body_bytes, kKiB, 4 * kGiB>("limits", "max_video_body_bytes"),
      UnsignedField<&C::limits, &C::LimitsSection::max_video_seconds, 1, 86'400>("limits", "max_video_seconds"),
      UnsignedField<&C::limits, &C::LimitsSection::max_video_pixels, 1, 1'000'000'000>("limits", "max_video_pixels"),
      UnsignedField<&C::limits, &C::LimitsSection::max_video_decode_seconds, 1, 86'400>("limits",
                                                                                      "max_video_decode_seconds"),
      UnsignedField<&C::limits, &C::LimitsSection::max_concurrent_video_decodes, 1, 10'000>(
          "limits", "max_concurrent_video_decodes"),
      UnsignedField<&C::matching, &C::MatchingSection::pdq_quality_floor, 0, 100>("matching", "pdq_quality_floor"),
      UnsignedField<&C::matching, &C::MatchingSection::pdq_default_max_distance, 0, 256>(
          "matching", "pdq_default_max_distance"),
      UnsignedField<&C::matching, &C::MatchingSection::pdq_max_distance_limit, 0, 256>("matching",
                                                                                         "pdq_max_distance_limit"),
      UnsignedField<&C::matching, &C::MatchingSection::video_frame_interval_ms, 0, 60'000>("matching",
                                                                                          "video_frame_interval_ms"),
      UnsignedField<&C::matching, &C::MatchingSection::video_query_frame_interval_ms, 0, 60'000>(
          "matching", "video_query_frame_interval_ms"),
      UnsignedField<&C::matching, &C::MatchingSection::video_range_match_percent, 1, 100>("matching",
                                                                                         "video_range_match_percent"),
      UnsignedField<&C::matching, &C::MatchingSection::video_max_distance, 0, 256>("matching", "video_max_distance"),
      UnsignedField<&C::matching, &C::MatchingSection::video_query_match_percent, 1, 100>("matching",
                                                                                         "video_query_match_percent"),
      UnsignedField<&C::matching, &C::MatchingSection::video_target_match_percent, 1, 100>("matching",
                                                                                          "video_target_match_percent"),
      UnsignedField<&C::matching, &C::MatchingSection::video_min_matched_seconds, 0, 3600>("matching",
                                                                                          "video_min_matched_seconds"),
      StringField<&C::matching, &C::MatchingSection::embedding_model>("matching", "embedding_model", CheckNoNul),
      StringField<&C::federation, &C::FederationSection::listen>("federation", "listen", CheckOptionalListen),
      StringField<&C::federation, &C::FederationSection::ca>("federation", "ca", CheckNoNul),
      UnsignedField<&C::federation, &C::FederationSection::sync_interval_ms, 100, 3'600'000>("federation",
                                                                                             "sync_interval_ms"),
      UnsignedField<&C::federation, &C::FederationSection::max_segment_entries, 1, 1'000'000>(
          "federation", "max_segment_entries"),
      ListField<&C::federation, &C::FederationSection::members, kMemberItem>("federation", "members"),
      ListField<&C::federation, &C::FederationSection::peers, kPeerItem>("federation", "peers"),
      ListField<&C::federation, &C::FederationSection::suspended, kOriginIdItem>("federation", "suspended"),
      BoolField<&C::federation, &C::FederationSection::exclude_suspended_from_matching>(
          "federation", "exclude_suspended_from_matching"),
      ListField<&C::federation, &C::FederationSection::keep_at_origin, kKeptTypeItem>("federation", "keep_at_origin"),
      UnsignedField<&C::webhooks, &C::WebhooksSection::watch_days, 1, 365>("webhooks", "watch_days"),
      UnsignedField<&C::webhooks, &C::WebhooksSection::retry_hours, 1, 168>("webhooks", "retry_hours"),
      UnsignedField<&C::webhooks, &C::WebhooksSection::delivery_timeout_ms, 100, 120'000>("webhooks",
                                                                                          "delivery_timeout_ms"),
      UnsignedField<&C::webhooks, &C::WebhooksSection::max_watch_entries, 1, 1'000'000'000>("webhooks",
                                                                                            "max_watch_entries"),
      UnsignedField<&C::webhooks, &C::WebhooksSection::max_watch_entries_per_member, 1, 1'000'000'000>(
          "webhooks", "max_watch_entries_per_member"),
      BoolField<&C::cases, &C::CasesSection::public_submission>("cases", "public_submission"),
      UnsignedField<&C::cases, &C::CasesSection::per_ip_per_hour, 1, 10'000>("cases", "per_ip_per_hour"),
      UnsignedField<&C::cases, &C::CasesSection::global_per_hour, 1, 1'000'000>("cases", "global_per_hour"),
      UnsignedField<&C::cases, &C::CasesSection::daily_cap, 1, 10'000'000>("cases", "daily_cap"),
      UnsignedField<&C::cases, &C::CasesSection::max_hashes, 1, 1'000>("cases", "max_hashes"),
      UnsignedField<&C::cases, &C::CasesSection::pin_attempts, 1, 100>("cases", "pin_attempts"),
      UnsignedField<&C::cases, &C::CasesSection::lockout_minutes, 1, 10'080>("cases", "lockout_minutes"),
      UnsignedField<&C::cases, &C::CasesSection::lookups_per_ip_per_hour, 1, 100'000>("cases",
                                                                                     "lookups_per_ip_per_hour"),
  };
  return fields;
}

// Section names in schema order.
const std::vector<std::string_view>& Sections() {
  static const std::vector<std::string_view> sections = [] {
    std::vector<std::string_view> out;
    for (const Field& field : Fields()) {
      if (out.empty() || out.back() != field.section) out.push_back(field.section);
    }
    return out;
  }();
  return sections;
}

bool IsSection(std::string_view name) {
  for (const std::string_view section : Sections()) {
    if (section == name) return true;
  }
  return false;
}

const Field* FindField(std::string_view section, std::string_view key) {
  for (const Field& field : Fields()) {
    if (field.section == section && field.key == key) return &field;
  }
  return nullptr;
}

std::string KnownSections() {
  std::string out;
  for (const std::string_view section : Sections()) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", std::string(section));
  }
  return out;
}

std::string KnownKeys(std::string_view section) {
  std::string out;
  for (const Field& field : Fields()) {
    if (field.section == section) absl::StrAppend(&out, out.empty() ? "" : ", ", std::string(field.key));
  }
  return out;
}

absl::Status UnknownKey(std::string_view label, std::string_view section) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(label), ": unknown key; section \"",
                                                 std::string(section), "\" has ", KnownKeys(section)));
}

// The value of `field` in `config` against its range or check, labelled with `label`.
absl::Status CheckField(const Field& field, const NodeConfig& config, const std::string& label) {
  switch (field.kind) {
    case Kind::kString:
      if (absl::Status s = field.check(field.string_value(config)); !s.ok()) return Labelled(label, s);
      return absl::OkStatus();
    case Kind::kUnsigned: {
      const uint64_t value = field.unsigned_value(config);
      if (value < field.min || value > field.max) {
        return absl::InvalidArgumentError(
            absl::StrCat(label, ": ", value, " is outside ", RangeText(field.min, field.max)));
      }
      return absl::OkStatus();
    }
    case Kind::kBool: return absl::OkStatus();
    case Kind::kList: return field.check_list(config, label);
  }
  return absl::OkStatus();
}

// Parses `text` (a YAML scalar or an environment variable) into `field` of `config`, checking it; errors are
// labelled with `label`.
absl::Status SetFromText(const Field& field, std::string_view text, std::string_view label, NodeConfig* config) {
  switch (field.kind) {
    case Kind::kString:
      if (absl::Status s = field.check(text); !s.ok()) return Labelled(label, s);
      field.mutable_string(*config) = std::string(text);
      return absl::OkStatus();
    case Kind::kUnsigned: {
      absl::StatusOr<uint64_t> value = ParseUnsigned(text, field.min, field.max);
      if (!value.ok()) return Labelled(label, value.status());
      field.set_unsigned(*config, *value);
      return absl::OkStatus();
    }
    case Kind::kBool: {
      absl::StatusOr<bool> value = ParseBool(text);
      if (!value.ok()) return Labelled(label, value.status());
      field.mutable_bool(*config) = *value;
      return absl::OkStatus();
    }
    case Kind::kList: break;  // a list is never one piece of text: only the environment gets here
  }
  return absl::InvalidArgumentError(absl::StrCat(std::string(label), ": ", field.path,
                                                 " is a list; lists are set in the file, not in the environment"));
}

// ---------------------------------------------------------------------------------------------------------
// Sources.

// The file's text. Filesystem errors keep their code (NotFound, PermissionDenied, FailedPrecondition for a
// directory or device); a file over the limit is InvalidArgument, like every other content error.
absl::StatusOr<std::string> ReadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileBounded(path, kMaxConfigFileBytes);
  if (text.ok()) return text;
  if (IsOverSizeLimit(text.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", text.status().message(), ", too large for a config file"));
  }
  return Labelled(path, text.status());
}

// The document's root: null (an empty document) or a mapping. Errors here are about the document as a whole.
absl::StatusOr<YAML::Node> ParseDocument(std::string_view yaml) {
  const std::vector<YAML::Node> documents = YAML::LoadAll(std::string(yaml));
  if (documents.empty()) return YAML::Node();
  if (documents.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("expected one YAML document, got ", documents.size()));
  }
  const YAML::Node& root = documents.front();
  if (!root.IsNull() && !root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat("expected a mapping of sections at the top level, got ",
                                                   KindName(root), Location(root.Mark())));
  }
  return root;
}

absl::Status ApplyYamlValue(const Field& field, const YAML::Node& value, const std::string& path,
                            NodeConfig* config) {
  if (field.kind == Kind::kList) {
    if (!value.IsSequence()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": expected a list, got ", KindName(value), Location(value.Mark())));
    }
    return field.set_list(value, path, config);
  }
  absl::StatusOr<std::string> text = ScalarText(value, path, Expected(field.kind));
  if (!text.ok()) return text.status();
  if (absl::Status s = SetFromText(field, *text, path, config); !s.ok()) return WithLocation(s, value.Mark());
  return absl::OkStatus();
}

absl::Status ApplySection(const std::string& section, const YAML::Node& body, NodeConfig* config) {
  if (body.IsNull()) return absl::OkStatus();  // "api:" with nothing under it
  if (!body.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(section, ": expected a mapping of keys, got ", KindName(body), Location(body.Mark())));
  }
  std::set<std::string> seen;
  for (const auto& entry : body) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(section, ": expected plain key names, got ", KindName(key),
                                                     Location(key.Mark())));
    }
    const std::string path = absl::StrCat(section, ".", SafeName(key.Scalar()));
    const Field* field = FindField(section, key.Scalar());
    if (field == nullptr) return WithLocation(UnknownKey(path, section), key.Mark());
    if (!seen.insert(key.Scalar()).second) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": duplicate key", Location(key.Mark())));
    }
    if (absl::Status s = ApplyYamlValue(*field, entry.second, path, config); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ApplyYaml(const YAML::Node& root, NodeConfig* config) {
  if (root.IsNull()) return absl::OkStatus();
  std::set<std::string> seen;
  for (const auto& entry : root) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected plain section names, got ", KindName(key), Location(key.Mark())));
    }
    const std::string& section = key.Scalar();
    if (!IsSection(section)) {
      return absl::InvalidArgumentError(absl::StrCat(SafeName(section), ": unknown section; sections are ",
                                                     KnownSections(), Location(key.Mark())));
    }
    if (!seen.insert(section).second) {
      return absl::InvalidArgumentError(absl::StrCat(section, ": duplicate section", Location(key.Mark())));
    }
    if (absl::Status s = ApplySection(section, entry.second, config); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ApplyEnvironment(const Environment& env, NodeConfig* config) {
  for (const auto& [name, value] : env) {
    if (!name.starts_with(kEnvironmentPrefix)) continue;
    const std::string_view rest = std::string_view(name).substr(kEnvironmentPrefix.size());
    std::string_view section;
    for (const std::string_view candidate : Sections()) {
      const std::string prefix = absl::StrCat(absl::AsciiStrToUpper(std::string(candidate)), "_");
      if (rest.starts_with(prefix)) section = candidate;
    }
    // Not HASHBANK_<section>_...: some other setting (HASHBANK_CONFIG, ...), not ours to judge.
    if (section.empty()) continue;
    const Field* field = nullptr;
    for (const Field& candidate : Fields()) {
      if (candidate.variable == name) field = &candidate;
    }
    if (field == nullptr) return UnknownKey(SafeName(name), section);
    if (absl::Status s = SetFromText(*field, value, name, config); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// `source` (a file path, or empty) prefixes the errors about the document as a whole.
// A relative path written in a config file is relative to that file's directory, not to wherever the node
// happens to be started (values from the environment and the defaults stay relative to the working directory).
void RebasePaths(const YAML::Node& root, const std::filesystem::path& base, NodeConfig* config) {
  const std::pair<const char*, const char*> keys[] = {{"node", "data_dir"}, {"api", "tls_cert"}, {"api", "tls_key"},
                                                      {"salt", "file"},     {"federation", "ca"},
                                                      {"matching", "embedding_model"}};
  std::string* fields[] = {&config->node.data_dir, &config->api.tls_cert, &config->api.tls_key, &config->salt.file,
                           &config->federation.ca, &config->matching.embedding_model};
  for (size_t i = 0; i < std::size(keys); ++i) {
    const YAML::Node section = root[keys[i].first];
    if (!section || !section.IsMap() || !section[keys[i].second]) continue;  // not written in the file
    std::string& value = *fields[i];
    if (value.empty() || std::filesystem::path(value).is_absolute()) continue;
    value = (base / value).lexically_normal().string();
  }
}

absl::StatusOr<NodeConfig> LoadFromText(std::string_view yaml, const Environment& env, const std::string& source) {
  NodeConfig config;
  // yaml-cpp reports errors by throwing; they stop here. A std::bad_alloc from a hostile document is reported
  // like any other malformed input.
  try {
    absl::StatusOr<YAML::Node> root = ParseDocument(yaml);
    if (!root.ok()) return source.empty() ? root.status() : Labelled(source, root.status());
    if (absl::Status s = ApplyYaml(*root, &config); !s.ok()) return s;
    if (!source.empty()) RebasePaths(*root, std::filesystem::path(source).parent_path(), &config);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own message for this one is "bad file".
    const absl::Status status =
        absl::InvalidArgumentError(absl::StrCat("malformed YAML: nested more than ", e.depth(), " levels deep"));
    return source.empty() ? status : Labelled(source, status);
  } catch (const YAML::Exception& e) {
    std::string where;
    if (!e.mark.is_null() && e.mark.line >= 0 && e.mark.column >= 0) {
      where = absl::StrCat(" at line ", e.mark.line + 1, ", column ", e.mark.column + 1);
    }
    const absl::Status status = absl::InvalidArgumentError(absl::StrCat("malformed YAML", where, ": ", e.msg));
    return source.empty() ? status : Labelled(source, status);
  } catch (const std::exception& e) {
    const absl::Status status = absl::InvalidArgumentError(absl::StrCat("cannot read the YAML: ", e.what()));
    return source.empty() ? status : Labelled(source, status);
  }
  if (absl::Status s = ApplyEnvironment(env, &config); !s.ok()) return s;
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  return config;
}

}  // namespace

absl::StatusOr<NodeConfig> NodeConfig::Load(const std::string& yaml_path_or_empty, const Environment& env) {
  if (yaml_path_or_empty.empty()) return LoadFromText("", env, "");
  absl::StatusOr<std::string> text = ReadConfigFile(yaml_path_or_empty);
  if (!text.ok()) return text.status();
  return LoadFromText(*text, env, yaml_path_or_empty);
}

absl::StatusOr<NodeConfig> NodeConfig::LoadFromString(std::string_view yaml, const Environment& env) {
  return LoadFromText(yaml, env, "");
}

absl::Status NodeConfig::Validate() const {
  for (const Field& field : Fields()) {
    if (absl::Status s = CheckField(field, *this, field.path); !s.ok()) return s;
  }
  if (api.tls_cert.empty() != api.tls_key.empty()) {
    return absl::InvalidArgumentError(
        api.tls_cert.empty()
            ? "api.tls_cert: is empty but api.tls_key is set; set both, or neither to use generated files"
            : "api.tls_key: is empty but api.tls_cert is set; set both, or neither to use generated files");
  }
  if (matching.pdq_default_max_distance > matching.pdq_max_distance_limit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "matching.pdq_default_max_distance: ", matching.pdq_default_max_distance,
        " is over matching.pdq_max_distance_limit (", matching.pdq_max_distance_limit, ")"));
  }
  if (matching.video_max_distance > matching.pdq_max_distance_limit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "matching.video_max_distance: ", matching.video_max_distance,
        " is over matching.pdq_max_distance_limit (", matching.pdq_max_distance_limit, ")"));
  }
  std::set<std::string_view> member_ids;
  for (const FederationMember& member : federation.members) member_ids.insert(member.id);
  for (size_t i = 0; i < federation.peers.size(); ++i) {
    const std::string& id = federation.peers[i].id;
    const std::string path = absl::StrCat(ItemPath("federation.peers", i), ".id");
    if (id == node.id) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", Quoted(id), " is this node (node.id); a node does not pull from itself"));
    }
    if (!member_ids.contains(id)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", Quoted(id), " is not a member; list it under federation.members"));
    }
  }
  for (size_t i = 0; i < federation.suspended.size(); ++i) {
    const std::string& id = federation.suspended[i];
    if (!member_ids.contains(id)) {
      return absl::InvalidArgumentError(absl::StrCat(ItemPath("federation.suspended", i), ": ", Quoted(id),
                                                     " is not a member; only members' entries can be suspended"));
    }
  }
  return absl::OkStatus();
}

std::string NodeConfig::TlsCertPath() const {
  if (!api.tls_cert.empty()) return api.tls_cert;
  return (std::filesystem::path(node.data_dir) / "tls" / "server.pem").string();
}

std::string NodeConfig::TlsKeyPath() const {
  if (!api.tls_key.empty()) return api.tls_key;
  return (std::filesystem::path(node.data_dir) / "tls" / "server.key").string();
}

std::string NodeConfig::SaltFilePath() const {
  if (!salt.file.empty()) return salt.file;
  return (std::filesystem::path(node.data_dir) / "salt.json").string();
}

std::string NodeConfig::FederationCaPath() const {
  if (!federation.ca.empty()) return federation.ca;
  return (std::filesystem::path(node.data_dir) / "tls" / "ca.pem").string();
}

bool NodeConfig::FederationEnabled() const { return !federation.listen.empty() || !federation.peers.empty(); }

}  // namespace hashbank
