#include "node/signal_intake.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/utf8.h"
#include "crypto/sha256.h"
#include "hashing/robust_fingerprint.h"
#include "node/entry_bytes.h"
#include "node/status_macros.h"
#include "protocol/entries.pb.h"

namespace hashbank {
namespace {

namespace pb = ::hashbank::protocol;

constexpr size_t kMaxLabels = 16;
constexpr size_t kMaxLabelLength = 64;
constexpr size_t kMaxCaseRef = 256;
constexpr size_t kMaxContentId = 256;
constexpr size_t kMaxNote = 1024;
constexpr size_t kMaxMetadata = 4096;

}  // namespace

bool IsValidLabel(std::string_view l) {
  if (l.empty() || l.size() > kMaxLabelLength) return false;
  return std::all_of(l.begin(), l.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

absl::Status ValidateLabels(std::vector<std::string>* labels) {
  if (labels->size() > kMaxLabels) return absl::InvalidArgumentError(absl::StrCat("labels: at most ", kMaxLabels));
  std::vector<std::string> unique;
  for (std::string& l : *labels) {
    if (!IsValidLabel(l)) return absl::InvalidArgumentError("labels: each label is 1-64 characters of a-z, 0-9, _");
    if (std::find(unique.begin(), unique.end(), l) == unique.end()) unique.push_back(std::move(l));
  }
  *labels = std::move(unique);
  return absl::OkStatus();
}

bool IsValidBankName(std::string_view name) {
  if (name.empty() || name.size() > 64 || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::string_view BankOf(const pb::Signal& signal) {
  // A peer's entry with a malformed bank name (never made by this code) is filed under the default bank:
  // listing keys and matches never carry a name that is not one.
  return signal.bank().empty() || !IsValidBankName(signal.bank()) ? kDefaultBank : std::string_view(signal.bank());
}

namespace {
std::vector<std::string> ListedLabels(const google::protobuf::RepeatedPtrField<std::string>& labels) {
  std::vector<std::string> out;
  for (const std::string& l : labels) {
    if (out.size() == kMaxLabels) break;
    if (IsValidLabel(l) && std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
  }
  return out;
}
}  // namespace

std::vector<std::string> LabelsOf(const pb::Signal& signal) { return ListedLabels(signal.labels()); }
std::vector<std::string> LabelsOf(const pb::LabelEdit& edit) { return ListedLabels(edit.labels()); }

bool IsLowerHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

SignalIntake::SignalIntake(std::unique_ptr<Salter> salter, int pdq_quality_floor)
    : salter_(std::move(salter)), quality_floor_(pdq_quality_floor) {}

Hash256 SignalIntake::SaltPdq(const Hash256& raw) const {
  Hash256 salted;
  salted.limbs = salter_->SaltPdq(raw.limbs);
  return salted;
}

Hash256 SignalIntake::UnsaltPdq(const Hash256& salted) const {
  Hash256 raw;
  raw.limbs = salter_->UnsaltPdq(salted.limbs);
  return raw;
}

absl::StatusOr<SaltedExactDigest> SignalIntake::SaltExact(ExactKind kind, std::span<const uint8_t> raw) const {
  return salter_->SaltExact(kind, raw);
}

absl::StatusOr<std::vector<float>> SignalIntake::SaltEmbedding(const EmbeddingInput& raw) const {
  auto salted = salter_->SaltEmbedding(raw.vector);
  if (!salted.ok()) return absl::InvalidArgumentError(absl::StrCat("embedding.vector: ", std::string(salted.status().message())));
  return salted;
}

std::vector<LocalFeature> SignalIntake::SaltFeatures(std::span<const LocalFeature> raw) const {
  std::vector<LocalFeature> out(raw.begin(), raw.end());
  for (LocalFeature& f : out) f.descriptor = salter_->SaltLocalDescriptor(f.descriptor);
  return out;
}

void SortBySaltedDescriptor(std::vector<LocalFeature>* features) {
  std::sort(features->begin(), features->end(), [](const LocalFeature& a, const LocalFeature& b) {
    return a.descriptor != b.descriptor ? a.descriptor < b.descriptor : (a.x != b.x ? a.x < b.x : a.y < b.y);
  });
}

absl::StatusOr<std::string> ResaltRobust(std::string_view encoded, const Salter& from, const Salter& to) {
  absl::StatusOr<RobustFingerprint> fp = DecodeRobustFingerprint(encoded);
  if (!fp.ok()) return absl::InvalidArgumentError(fp.status().message());
  for (LocalFeature& f : fp->features) f.descriptor = to.SaltLocalDescriptor(from.UnsaltLocalDescriptor(f.descriptor));
  SortBySaltedDescriptor(&fp->features);
  absl::StatusOr<std::string> out = EncodeRobustFingerprint(*fp);
  if (!out.ok()) return absl::InvalidArgumentError(out.status().message());
  return out;
}

absl::StatusOr<std::string> ResaltVideoPdq(std::string_view frames, const Salter& from, const Salter& to) {
  if (frames.size() % 32 != 0) return absl::InvalidArgumentError("video pdq is not a whole number of frames");
  std::string out;
  out.reserve(frames.size());
  for (size_t i = 0; i < frames.size(); i += 32) {
    Hash256 h = PdqFromBytes(frames.substr(i, 32));
    h.limbs = to.SaltPdq(from.UnsaltPdq(h.limbs));
    out += PdqBytes(h);
  }
  return out;
}

absl::StatusOr<RobustFingerprint> DecodeBankableRobust(std::string_view raw, std::string_view field) {
  const std::string name(field);
  absl::StatusOr<RobustFingerprint> fp = DecodeRobustFingerprint(raw);
  if (!fp.ok()) return absl::InvalidArgumentError(absl::StrCat(name, ": ", fp.status().message()));
  if (fp->features.size() < kMinRobustFeatures) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", fp->features.size(), " features; at least ",
                                                   kMinRobustFeatures, " are needed to match"));
  }
  if (fp->features.size() > kMaxRobustFeatures) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", fp->features.size(), " features; at most ",
                                                   kMaxRobustFeatures, " are banked"));
  }
  return fp;
}

absl::StatusOr<std::string> SignalIntake::SaltRobust(std::string_view raw, std::string_view field) const {
  absl::StatusOr<RobustFingerprint> fp = DecodeBankableRobust(raw, field);
  if (!fp.ok()) return fp.status();
  fp->features = SaltFeatures(fp->features);
  SortBySaltedDescriptor(&fp->features);
  absl::StatusOr<std::string> out = EncodeRobustFingerprint(*fp);
  if (!out.ok()) return absl::InvalidArgumentError(absl::StrCat(std::string(field), ": ", out.status().message()));
  return out;
}

std::vector<VideoFrame> SignalIntake::SaltVideoFrames(std::span<const VideoFrame> raw) const {
  std::vector<VideoFrame> out(raw.begin(), raw.end());
  for (VideoFrame& f : out) f.pdq = SaltPdq(f.pdq);
  return out;
}

absl::StatusOr<std::string> SignalIntake::SaltVideo(const VideoInput& raw) const {
  pb::VideoFingerprint video;
  if (absl::Status s = BuildVideo(raw, &video); !s.ok()) return s;
  return video.SerializeAsString();
}

absl::Status SignalIntake::BuildVideo(const VideoInput& in, pb::VideoFingerprint* out) const {
  if (in.frames.empty()) return absl::InvalidArgumentError("vpdq: at least one frame is required");
  if (in.frames.size() > kMaxSubmittedVideoFrames) {
    return absl::InvalidArgumentError(absl::StrCat("vpdq: ", in.frames.size(), " frames; at most ", kMaxSubmittedVideoFrames,
                                                   " (sample fewer frames a second)"));
  }
  constexpr double kMaxSeconds = 24 * 3600;
  double last = 0;
  int good = 0;
  std::vector<double> steps;
  for (size_t i = 0; i < in.frames.size(); ++i) {
    const VideoFrame& f = in.frames[i];
    if (f.quality < 0 || f.quality > 100) return absl::InvalidArgumentError(absl::StrCat("vpdq[", i, "].quality: 0-100"));
    if (!(f.timestamp >= last) || f.timestamp > kMaxSeconds) {
      return absl::InvalidArgumentError(absl::StrCat("vpdq[", i, "].timestamp: seconds, non-decreasing, at most 24 h"));
    }
    if (i > 0) steps.push_back(f.timestamp - last);
    last = f.timestamp;
    if (f.quality >= quality_floor_) ++good;
  }
  if (good == 0) {
    return absl::FailedPreconditionError(absl::StrCat("vpdq: no frame reaches this node's quality floor of ", quality_floor_,
                                                      "; such frames match unrelated videos"));
  }
  double interval = in.frame_interval;
  if (interval == 0) {
    interval = 1.0;  // one frame: it stands for a second
    if (!steps.empty()) {
      std::nth_element(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(steps.size() / 2), steps.end());
      interval = steps[steps.size() / 2];
    }
  }
  if (!(interval >= 0.001 && interval <= 3600)) {
    return absl::InvalidArgumentError("vpdq: the frame interval must be 0.001 to 3600 seconds");
  }
  const double duration = in.duration > 0 ? in.duration : last + interval;
  if (!(duration <= kMaxSeconds)) return absl::InvalidArgumentError("vpdq: duration at most 24 h");
  std::string* pdq = out->mutable_pdq();
  std::string* quality = out->mutable_quality();
  pdq->reserve(32 * in.frames.size());
  for (const VideoFrame& f : in.frames) {
    pdq->append(PdqBytes(SaltPdq(f.pdq)));
    quality->push_back(static_cast<char>(f.quality));
    out->add_timestamp_ms(static_cast<uint32_t>(std::llround(f.timestamp * 1000)));
  }
  if (in.keyframes.size() > kMaxVideoKeyframes) {
    return absl::InvalidArgumentError(absl::StrCat("vpdq_keyframes: at most ", kMaxVideoKeyframes));
  }
  for (size_t i = 0; i < in.keyframes.size(); ++i) {
    const auto& [encoded, time] = in.keyframes[i];
    // Within the frames' span or the stated duration (a container may state less than its frames' times).
    if (!(time >= 0) || time > std::max(duration, last)) {
      return absl::InvalidArgumentError(absl::StrCat("vpdq_keyframes[", i, "].timestamp: must be within the video"));
    }
    absl::StatusOr<std::string> salted = SaltRobust(encoded);
    if (!salted.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("vpdq_keyframes[", i, "].", salted.status().message()));
    }
    out->add_keyframes(std::move(*salted));
    out->add_keyframe_ms(static_cast<uint32_t>(std::llround(time * 1000)));
  }
  out->set_frame_interval_ms(std::max<uint32_t>(1, static_cast<uint32_t>(std::llround(interval * 1000))));
  out->set_duration_ms(static_cast<uint32_t>(std::llround(duration * 1000)));
  return absl::OkStatus();
}

absl::Status DecodeVideoFingerprint(const pb::VideoFingerprint& video, std::vector<VideoFrame>* frames,
                                    double* frame_interval) {
  const size_t n = video.quality().size();
  if (n == 0 || n > kMaxVideoFrames || video.pdq().size() != 32 * n || static_cast<size_t>(video.timestamp_ms_size()) != n ||
      video.frame_interval_ms() == 0) {
    return absl::InvalidArgumentError("video fingerprint: inconsistent frame counts or no frame interval");
  }
  frames->clear();
  frames->reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int q = static_cast<uint8_t>(video.quality()[i]);
    if (q > 100) return absl::InvalidArgumentError("video fingerprint: a quality over 100");
    if (i > 0 && video.timestamp_ms(static_cast<int>(i)) < video.timestamp_ms(static_cast<int>(i - 1))) {
      return absl::InvalidArgumentError("video fingerprint: timestamps decrease");
    }
    frames->push_back({PdqFromBytes(std::string_view(video.pdq()).substr(32 * i, 32)), q,
                       static_cast<double>(video.timestamp_ms(static_cast<int>(i))) / 1000.0});
  }
  *frame_interval = static_cast<double>(video.frame_interval_ms()) / 1000.0;
  return absl::OkStatus();
}

absl::StatusOr<pb::Signal> SignalIntake::Build(const SignalInput& in, const Actor& actor) const {
  pb::Signal sig;
  if (!in.pdq && !in.md5 && !in.sha256 && !in.embedding && !in.robust && !in.video) {
    return absl::InvalidArgumentError("at least one of pdq, md5, sha256, embedding, robust, vpdq is required");
  }
  sig.set_salt_id(salter_->salt_id());
  if (in.pdq && in.pdq_quality_unknown) {
    if (in.quality) return absl::InvalidArgumentError("quality: given for a PDQ hash marked as without quality");
    sig.set_pdq(PdqBytes(SaltPdq(*in.pdq)));
  } else if (in.pdq) {
    if (!in.quality) return absl::InvalidArgumentError("quality: required with pdq (0-100)");
    if (*in.quality < 0 || *in.quality > 100) return absl::InvalidArgumentError("quality: must be 0-100");
    if (*in.quality < quality_floor_) {
      return absl::FailedPreconditionError(
          absl::StrCat("quality: ", *in.quality, " is below this node's floor of ", quality_floor_,
                       "; such PDQ hashes match unrelated images"));
    }
    sig.set_pdq(PdqBytes(SaltPdq(*in.pdq)));
    sig.set_pdq_quality(static_cast<uint32_t>(*in.quality));
  } else if (in.quality) {
    return absl::InvalidArgumentError("quality: only meaningful with pdq");
  }
  if (in.md5) {
    auto s = salter_->SaltExact(ExactKind::kMd5, *in.md5);
    if (!s.ok()) return s.status();
    sig.set_md5(std::string(s->begin(), s->end()));
  }
  if (in.sha256) {
    auto s = salter_->SaltExact(ExactKind::kSha256, *in.sha256);
    if (!s.ok()) return s.status();
    sig.set_sha256(std::string(s->begin(), s->end()));
  }
  if (in.embedding) {
    if (!IsLowerHex64(in.embedding->model_id)) {
      return absl::InvalidArgumentError("embedding.model_id: the SHA-256 of the model's weights, 64 lowercase hex");
    }
    auto salted = SaltEmbedding(*in.embedding);
    if (!salted.ok()) return salted.status();
    double norm = 0;
    for (float x : *salted) norm += static_cast<double>(x) * x;
    if (!(norm > 0)) return absl::InvalidArgumentError("embedding.vector: must not be all zeros");
    auto* e = sig.mutable_embedding();
    e->set_model_id(in.embedding->model_id);
    e->mutable_vector()->Add(salted->begin(), salted->end());
  }
  if (in.robust) {
    HB_ASSIGN_OR_RETURN(std::string salted, SaltRobust(*in.robust));
    sig.set_robust(std::move(salted));
  }
  if (in.video) HB_RETURN_IF_ERROR(BuildVideo(*in.video, sig.mutable_video()));
  std::vector<std::string> labels = in.labels;
  HB_RETURN_IF_ERROR(ValidateLabels(&labels));
  for (std::string& l : labels) sig.add_labels(std::move(l));
  if (in.case_ref.size() > kMaxCaseRef) return absl::InvalidArgumentError("case_ref: at most 256 bytes");
  // Text fields are proto3 strings: bytes that are not UTF-8 would make the stored entry unreadable (at the
  // next start, and at every member). JSON input always is UTF-8; a CSV import may not be.
  if (!IsUtf8(in.case_ref)) return absl::InvalidArgumentError("case_ref: not UTF-8 text");
  sig.set_case_ref(in.case_ref);
  if (!in.bank.empty() && !IsValidBankName(in.bank)) {
    return absl::InvalidArgumentError("bank: 1-64 characters of A-Z, 0-9, _, not starting with a digit");
  }
  if (in.bank != kDefaultBank) sig.set_bank(in.bank);  // the default bank is stored as empty, as before banks
  if (in.content_id.size() > kMaxContentId) return absl::InvalidArgumentError("content_id: at most 256 bytes");
  if (in.note.size() > kMaxNote) return absl::InvalidArgumentError("note: at most 1024 bytes");
  if (!IsUtf8(in.content_id)) return absl::InvalidArgumentError("content_id: not UTF-8 text");
  if (!IsUtf8(in.note)) return absl::InvalidArgumentError("note: not UTF-8 text");
  if (in.metadata_json.size() > kMaxMetadata) return absl::InvalidArgumentError("metadata: at most 4096 bytes as JSON");
  sig.set_content_id(in.content_id);
  sig.set_note(in.note);
  sig.set_metadata_json(in.metadata_json);
  sig.set_submitted_by(actor.name);
  return sig;
}

bool UsableModelFingerprint(const pb::ModelFingerprint& m) {
  return IsLowerHex64(m.model_id()) && m.dimension() >= 1 && m.dimension() <= 4096 && m.threshold() >= -1.0f &&
         m.threshold() <= 1.0f && m.metric() == "cosine";
}

absl::Status SignalIntake::ValidateModel(const ModelInput& m) const {
  if (!IsLowerHex64(m.model_id)) return absl::InvalidArgumentError("model_id: the SHA-256 of the weights, 64 lowercase hex");
  if (m.dimension == 0 || m.dimension > 4096) return absl::InvalidArgumentError("dimension: 1 to 4096");
  if (m.name.empty() || m.name.size() > 128) return absl::InvalidArgumentError("name: 1 to 128 bytes");
  if (!(m.threshold >= -1.0f && m.threshold <= 1.0f)) return absl::InvalidArgumentError("threshold: -1 to 1");
  return absl::OkStatus();
}

std::string BankListKey(std::string_view bank) { return absl::StrCat("bank:", std::string(bank)); }

std::string CaseListKey(std::string_view case_ref) {
  const Sha256Hash h = Sha256(case_ref);
  return absl::StrCat("case:", absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(h.data()), 16)));
}

void AddListingRows(StoreBatch* batch, const pb::Signal& sig, const SignalRef& ref) {
  batch->PutLabel(BankListKey(BankOf(sig)), ref);
  if (!sig.case_ref().empty()) batch->PutLabel(CaseListKey(sig.case_ref()), ref);
}

void AddSignalRows(StoreBatch* batch, const pb::Signal& sig, const SignalRef& ref) {
  if (!sig.md5().empty()) batch->PutExact(ExactKind8::kMd5, sig.md5(), ref);
  if (!sig.sha256().empty()) batch->PutExact(ExactKind8::kSha256, sig.sha256(), ref);
  for (const std::string& l : LabelsOf(sig)) batch->PutLabel(l, ref);
  AddListingRows(batch, sig, ref);
}

void DeleteSignalRows(StoreBatch* batch, const pb::Signal& sig, const SignalRef& ref) {
  if (!sig.md5().empty()) batch->DeleteExact(ExactKind8::kMd5, sig.md5(), ref);
  if (!sig.sha256().empty()) batch->DeleteExact(ExactKind8::kSha256, sig.sha256(), ref);
  // Every label as stored, valid or not: rows an older version wrote for a peer's invalid labels go too.
  for (const std::string& l : sig.labels()) batch->DeleteLabel(l, ref);
  batch->DeleteLabel(BankListKey(BankOf(sig)), ref);
  if (!sig.case_ref().empty()) batch->DeleteLabel(CaseListKey(sig.case_ref()), ref);
}

bool HasValues(const pb::Signal& sig) {
  return !sig.pdq().empty() || !sig.md5().empty() || !sig.sha256().empty() || sig.has_embedding() ||
         !sig.robust().empty() || sig.has_video();
}

std::vector<std::string> SignalTypes(const pb::Signal& sig) {
  std::vector<std::string> out;
  if (!sig.pdq().empty()) out.push_back("pdq");
  if (!sig.md5().empty()) out.push_back("md5");
  if (!sig.sha256().empty()) out.push_back("sha256");
  if (sig.has_embedding()) out.push_back("embedding");
  if (!sig.robust().empty()) out.push_back("robust");
  if (sig.has_video()) out.push_back("vpdq");
  return out;
}

}  // namespace hashbank
