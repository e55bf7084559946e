#include "node/import_formats.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "node/api_support.h"

namespace hashbank {
namespace {

namespace json = boost::json;

constexpr uint64_t kMaxJsonFile = uint64_t{1} << 30;

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

// A ThreatExchange tag or category as a hashbank label: lower case, [a-z0-9_], at most 64.
std::optional<std::string> AsLabel(std::string_view tag) {
  std::string out;
  for (char c : tag) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.push_back((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') ? l : '_');
    if (out.size() == 64) break;
  }
  if (out.empty() || std::all_of(out.begin(), out.end(), [](char c) { return c == '_'; })) return std::nullopt;
  return out;
}

// Sets the hash of `type` ("pdq", "md5", "sha256") from `value` in `in`; the reason when it is not one.
std::optional<std::string> SetHash(const std::string& type, const std::string& raw_value, SignalInput* in) {
  const std::string value = Lower(Trim(raw_value));
  const size_t want = type == "md5" ? 32 : 64;
  if (value.size() != want || !IsHex(value)) {
    return absl::StrCat("not a ", type == "pdq" ? "PDQ" : type == "md5" ? "MD5" : "SHA-256", " hash (", want, " hex digits)");
  }
  if (type == "pdq") {
    in->pdq = Hash256::FromHex(value).value();
    in->pdq_quality_unknown = true;
  } else if (type == "md5") {
    in->md5 = api::ParseDigest<16>(value, "md5").value();
  } else {
    in->sha256 = api::ParseDigest<32>(value, "sha256").value();
  }
  return std::nullopt;
}

// One CSV line (RFC 4180 quoting; no line breaks inside fields).
std::optional<std::vector<std::string>> SplitCsv(std::string_view line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back().push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back().push_back(c);
      }
    } else if (c == '"' && out.back().empty()) {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else if (c != '\r') {
      out.back().push_back(c);
    }
  }
  if (quoted) return std::nullopt;
  return out;
}

class LineReader : public ImportReader {
 public:
  LineReader(std::ifstream in, uint64_t size, ImportOptions options, ImportFormat format)
      : in_(std::move(in)), size_(size), options_(std::move(options)) {
    format_ = format;
  }

  absl::Status ReadHeader() {
    if (format_ != ImportFormat::kTeCsv) return absl::OkStatus();
    std::string line;
    if (!std::getline(in_, line)) return absl::InvalidArgumentError("te-csv: the file is empty (a header line is needed)");
    ++consumed_;
    auto cols = SplitCsv(line);
    if (!cols) return absl::InvalidArgumentError("te-csv: the header line does not parse");
    for (size_t i = 0; i < cols->size(); ++i) columns_[Lower(Trim((*cols)[i]))] = i;
    for (const char* name : {"signal_str", "signal", "signal_value"}) {
      if (columns_.contains(name)) value_col_ = columns_.at(name);
    }
    if (!columns_.contains("signal_type") || !value_col_) {
      return absl::InvalidArgumentError("te-csv: the header must name signal_type and signal_str (or signal, signal_value)");
    }
    return absl::OkStatus();
  }

  bool Next(size_t max, std::vector<ImportRecord>* out, std::vector<ImportReject>* rejects) override {
    std::string line;
    const size_t target = out->size() + max;
    while (out->size() < target) {
      if (!std::getline(in_, line)) return false;
      const uint64_t number = ++consumed_;
      const std::string t = Trim(line);
      if (t.empty() || t.front() == '#') continue;
      ImportRecord r;
      r.number = number;
      r.input.bank = options_.bank;
      r.input.labels = options_.labels;
      std::optional<std::string> reason = Parse(t, &r.input);
      if (reason) {
        rejects->push_back({number, *reason});
      } else {
        out->push_back(std::move(r));
      }
    }
    return true;
  }

  uint64_t consumed() const override { return consumed_; }
  void Skip(uint64_t n) override {
    std::string line;
    while (consumed_ < n && std::getline(in_, line)) ++consumed_;
  }
  double progress() const override {
    if (size_ == 0) return 1;
    auto& in = const_cast<std::ifstream&>(in_);
    const auto pos = in.tellg();
    return pos < 0 ? 1.0 : static_cast<double>(pos) / static_cast<double>(size_);
  }

 private:
  std::optional<std::string> Parse(const std::string& line, SignalInput* in) {
    if (format_ == ImportFormat::kLines) {
      std::string type = options_.lines_type;
      if (type.empty()) type = line.size() == 32 ? "md5" : "pdq";
      return SetHash(type, line, in);
    }
    if (format_ == ImportFormat::kPdq) {
      const std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(',', 2));
      if (f.size() < 2) return std::string("expected hash,quality[,path]");
      if (auto reason = SetHash("pdq", f[0], in)) return reason;
      int q = -1;
      if (!api::ParseWhole(Trim(f[1]), &q) || q < 0 || q > 100) return std::string("quality: 0 to 100");
      in->pdq_quality_unknown = false;
      in->quality = q;
      if (f.size() == 3) {
        // `hashbank hash` quotes a path holding a comma, quote or line break (RFC 4180): read it back as one field.
        std::string path = Trim(f[2]);
        if (path.size() >= 2 && path.front() == '"') {
          auto field = SplitCsv(path);
          if (!field || field->size() != 1) return std::string("path: unterminated or malformed quotes");
          path = std::move((*field)[0]);
        }
        in->content_id = path.substr(0, 256);
      }
      return std::nullopt;
    }
    // te-csv
    auto cols = SplitCsv(line);
    if (!cols) return std::string("unterminated quotes");
    auto col = [&](const char* name) -> std::string {
      auto it = columns_.find(name);
      return it != columns_.end() && it->second < cols->size() ? (*cols)[it->second] : std::string();
    };
    std::string type = Lower(Trim(col("signal_type")));
    if (type == "video_md5" || type == "hash_md5") type = "md5";
    if (type == "hash_pdq") type = "pdq";
    if (type == "hash_sha256") type = "sha256";
    if (type != "pdq" && type != "md5" && type != "sha256") return absl::StrCat("signal_type \"", type, "\" is not imported");
    if (*value_col_ >= cols->size()) return std::string("no signal value");
    if (auto reason = SetHash(type, (*cols)[*value_col_], in)) return reason;
    for (absl::string_view tag : absl::StrSplit(col("tags"), ' ', absl::SkipEmpty())) {
      if (auto l = AsLabel(std::string(tag)); l && in->labels.size() < 16) in->labels.push_back(*l);
    }
    if (auto l = AsLabel(col("category")); l && in->labels.size() < 16) in->labels.push_back(*l);
    in->note = col("note").substr(0, 1024);
    in->content_id = col("content_id").substr(0, 256);
    return std::nullopt;
  }

  std::ifstream in_;
  uint64_t size_;
  ImportOptions options_;
  uint64_t consumed_ = 0;
  std::map<std::string, size_t> columns_;
  std::optional<size_t> value_col_;
};

class StopNciiReader : public ImportReader {
 public:
  StopNciiReader() { format_ = ImportFormat::kStopNcii; }

  absl::Status Load(const std::string& text, const ImportOptions& options) {
    std::vector<json::value> pages;
    boost::system::error_code ec;
    json::value whole = json::parse(text, ec);
    if (!ec) {
      if (whole.is_array()) {
        for (json::value& p : whole.as_array()) pages.push_back(std::move(p));
      } else {
        pages.push_back(std::move(whole));
      }
    } else {
      // One page per line.
      for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
        json::value p = json::parse(std::string(line), ec);
        if (ec) return absl::InvalidArgumentError("stopncii: neither a JSON document nor one JSON page per line");
        pages.push_back(std::move(p));
      }
    }
    for (const json::value& page : pages) {
      const json::value* recs = page.is_object() ? page.as_object().if_contains("hashRecords") : nullptr;
      if (recs == nullptr || !recs->is_array()) return absl::InvalidArgumentError("stopncii: a page without hashRecords");
      for (const json::value& r : recs->as_array()) {
        const uint64_t number = entries_.size() + 1;
        Entry e;
        e.number = number;
        auto str = [&](const char* k) -> std::string {
          const json::value* v = r.is_object() ? r.as_object().if_contains(k) : nullptr;
          return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
        };
        const std::string type = str("signalType");
        e.record.number = number;
        e.record.input.bank = options.bank;
        e.record.input.labels = options.labels;
        std::optional<std::string> reason;
        if (type == "ImagePDQ") {
          reason = SetHash("pdq", str("hashValue"), &e.record.input);
        } else if (type == "VideoMD5") {
          reason = SetHash("md5", str("hashValue"), &e.record.input);
        } else {
          reason = absl::StrCat("signalType \"", type, "\" is not imported (ImagePDQ, VideoMD5)");
        }
        const std::string status = str("hashStatus");
        e.record.withdraw = status == "Withdrawn" || status == "Deleted";
        // The first StopNCII case number is the case reference (the victim's case at StopNCII).
        if (const json::value* cases = r.is_object() ? r.as_object().if_contains("caseNumbers") : nullptr;
            cases != nullptr && cases->is_object() && !cases->as_object().empty()) {
          e.record.input.case_ref = std::string(cases->as_object().begin()->key()).substr(0, 256);
        }
        if (reason) {
          e.reject = ImportReject{number, *reason};
        }
        entries_.push_back(std::move(e));
      }
    }
    return absl::OkStatus();
  }

  bool Next(size_t max, std::vector<ImportRecord>* out, std::vector<ImportReject>* rejects) override {
    size_t taken = 0;
    while (next_ < entries_.size() && taken < max) {
      Entry& e = entries_[next_++];
      if (e.reject) {
        rejects->push_back(*e.reject);
      } else {
        out->push_back(std::move(e.record));
        ++taken;
      }
    }
    return next_ < entries_.size();
  }
  uint64_t consumed() const override { return next_; }
  void Skip(uint64_t n) override { next_ = std::min<size_t>(static_cast<size_t>(n), entries_.size()); }
  double progress() const override { return entries_.empty() ? 1.0 : static_cast<double>(next_) / static_cast<double>(entries_.size()); }

 private:
  struct Entry {
    uint64_t number = 0;
    ImportRecord record;
    std::optional<ImportReject> reject;
  };
  std::vector<Entry> entries_;
  size_t next_ = 0;
};

ImportFormat Detect(const std::string& head) {
  const std::string t = Trim(head);
  if (t.starts_with("{") || t.starts_with("[")) return ImportFormat::kStopNcii;
  const std::string first = Lower(t.substr(0, t.find('\n')));
  if (first.find("signal_type") != std::string::npos) return ImportFormat::kTeCsv;
  if (first.find(',') != std::string::npos) return ImportFormat::kPdq;
  return ImportFormat::kLines;
}

}  // namespace

absl::StatusOr<ImportFormat> ParseImportFormat(std::string_view name) {
  if (name == "auto") return ImportFormat::kAuto;
  if (name == "lines") return ImportFormat::kLines;
  if (name == "pdq") return ImportFormat::kPdq;
  if (name == "te-csv") return ImportFormat::kTeCsv;
  if (name == "stopncii") return ImportFormat::kStopNcii;
  return absl::InvalidArgumentError("--format: auto, lines, pdq, te-csv or stopncii");
}

std::string_view ImportFormatName(ImportFormat f) {
  switch (f) {
    case ImportFormat::kAuto: return "auto";
    case ImportFormat::kLines: return "lines";
    case ImportFormat::kPdq: return "pdq";
    case ImportFormat::kTeCsv: return "te-csv";
    case ImportFormat::kStopNcii: return "stopncii";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<ImportReader>> ImportReader::Open(const std::string& path, ImportOptions options) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return absl::NotFoundError(absl::StrCat(path, ": ", ec.message()));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot be opened"));
  ImportFormat format = options.format;
  if (format == ImportFormat::kAuto) {
    std::string head(4096, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));
    in.clear();
    in.seekg(0);
    format = Detect(head);
  }
  if (options.lines_type != "" && options.lines_type != "pdq" && options.lines_type != "md5" && options.lines_type != "sha256") {
    return absl::InvalidArgumentError("--type: pdq, md5 or sha256");
  }
  if (format == ImportFormat::kStopNcii) {
    if (size > kMaxJsonFile) return absl::InvalidArgumentError("stopncii: a JSON file over 1 GiB; split it into pages");
    std::string text(size, '\0');
    in.read(text.data(), static_cast<std::streamsize>(size));
    auto r = std::make_unique<StopNciiReader>();
    if (absl::Status s = r->Load(text, options); !s.ok()) return s;
    return r;
  }
  auto r = std::make_unique<LineReader>(std::move(in), size, std::move(options), format);
  if (absl::Status s = r->ReadHeader(); !s.ok()) return s;
  return r;
}

}  // namespace hashbank
