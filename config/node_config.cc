#include "config/node_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "config/listen_address.h"
#include "config/quoted.h"

namespace hashbank {
namespace {

// A config file is a few hundred bytes; anything this large is the wrong file.
constexpr size_t kMaxConfigFileBytes = size_t{1} << 20;
constexpr size_t kMaxNodeIdLength = 64;
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

absl::Status CheckNodeId(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("is empty");
  if (id.size() > kMaxNodeIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("is ", id.size(), " characters, the limit is ", kMaxNodeIdLength));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    if (!((c >= 'a' && c <= 'z') || IsDigit(c) || c == '.' || c == '_' || c == '-')) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quoted(id), " has a character outside [a-z0-9._-] at position ", i));
    }
  }
  if (!((id[0] >= 'a' && id[0] <= 'z') || IsDigit(id[0]))) {
    return absl::InvalidArgumentError(absl::StrCat(Quoted(id), " must start with a letter or a digit"));
  }
  return absl::OkStatus();
}

absl::Status CheckRequiredPath(std::string_view path) {
  if (path.empty()) return absl::InvalidArgumentError("is empty");
  return CheckNoNul(path);
}

absl::Status CheckListen(std::string_view listen) { return ParseListenAddress(listen).status(); }

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

// ---------------------------------------------------------------------------------------------------------
// The schema: one row per key.

using StringCheck = absl::Status (*)(std::string_view value);

struct Field {
  std::string_view section;
  std::string_view key;
  std::string path;      // "api.threads"
  std::string variable;  // "HASHBANK_API_THREADS"
  bool is_string = false;
  // String keys.
  std::string& (*mutable_string)(NodeConfig&) = nullptr;
  const std::string& (*string_value)(const NodeConfig&) = nullptr;
  StringCheck check = nullptr;
  // Unsigned keys.
  uint64_t (*unsigned_value)(const NodeConfig&) = nullptr;
  void (*set_unsigned)(NodeConfig&, uint64_t) = nullptr;
  uint64_t min = 0;
  uint64_t max = 0;
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
  field.is_string = true;
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
  field.unsigned_value = [](const NodeConfig& config) -> uint64_t { return (config.*kSection).*kMember; };
  // Only called with values in kMin..kMax, which fit T.
  field.set_unsigned = [](NodeConfig& config, uint64_t value) { (config.*kSection).*kMember = static_cast<T>(value); };
  field.min = kMin;
  field.max = kMax;
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
      UnsignedField<&C::matching, &C::MatchingSection::pdq_quality_floor, 0, 100>("matching", "pdq_quality_floor"),
      UnsignedField<&C::matching, &C::MatchingSection::pdq_default_max_distance, 0, 256>(
          "matching", "pdq_default_max_distance"),
      UnsignedField<&C::matching, &C::MatchingSection::pdq_max_distance_limit, 0, 256>("matching",
                                                                                         "pdq_max_distance_limit"),
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
absl::Status CheckField(const Field& field, const NodeConfig& config, std::string_view label) {
  if (field.is_string) {
    if (absl::Status s = field.check(field.string_value(config)); !s.ok()) return Labelled(label, s);
    return absl::OkStatus();
  }
  const uint64_t value = field.unsigned_value(config);
  if (value < field.min || value > field.max) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(label), ": ", value, " is outside ",
                                                   RangeText(field.min, field.max)));
  }
  return absl::OkStatus();
}

// Parses `text` into `field` of `config`, checking it; errors are labelled with `label`.
absl::Status SetFromText(const Field& field, std::string_view text, std::string_view label, NodeConfig* config) {
  if (field.is_string) {
    if (absl::Status s = field.check(text); !s.ok()) return Labelled(label, s);
    field.mutable_string(*config) = std::string(text);
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> value = ParseUnsigned(text, field.min, field.max);
  if (!value.ok()) return Labelled(label, value.status());
  field.set_unsigned(*config, *value);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------------------
// Sources.

absl::Status ErrnoStatus(int err, const std::string& path, std::string_view what) {
  const std::string message = absl::StrCat(path, ": ", std::string(what), ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR: return absl::NotFoundError(message);
    case EACCES:
    case EPERM: return absl::PermissionDeniedError(message);
    default: return absl::UnavailableError(message);
  }
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { ::close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

absl::StatusOr<std::string> ReadConfigFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, path, "cannot open");
  FdCloser closer(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, path, "cannot stat");
  if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat(path, ": not a regular file"));
  std::string text;
  char buffer[1 << 14];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, path, "read failed");
    }
    if (n == 0) return text;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxConfigFileBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": over ", kMaxConfigFileBytes, " bytes, too large for a config file"));
    }
  }
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
  if (!value.IsScalar()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": expected ", field.is_string ? "a string" : "an integer",
                                                   ", got ", KindName(value), Location(value.Mark())));
  }
  if (absl::Status s = SetFromText(field, value.Scalar(), path, config); !s.ok()) return WithLocation(s, value.Mark());
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
absl::StatusOr<NodeConfig> LoadFromText(std::string_view yaml, const Environment& env, const std::string& source) {
  NodeConfig config;
  // yaml-cpp reports errors by throwing; they stop here. A std::bad_alloc from a hostile document is reported
  // like any other malformed input.
  try {
    absl::StatusOr<YAML::Node> root = ParseDocument(yaml);
    if (!root.ok()) return source.empty() ? root.status() : Labelled(source, root.status());
    if (absl::Status s = ApplyYaml(*root, &config); !s.ok()) return s;
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

}  // namespace hashbank
