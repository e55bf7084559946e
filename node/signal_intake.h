// SignalIntake: validation and salting of what members send. Every raw value (PDQ, MD5, SHA-256, embedding)
// is salted here, on arrival; only salted values leave this class, for storage, the logs and the indexes.
// Queries are salted the same way, so matching stays exact on salted values.
//
// Also owns the signal-type specific storage rows: which index rows (exact digests, labels) a stored signal
// has, so the own log and the log replica write and delete them identically.
//
// Immutable after construction; thread-safe. Errors: InvalidArgument naming the API field,
// FailedPrecondition for PDQ below the quality floor.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/salting.h"
#include "hashing/exact_hash.h"
#include "hashing/hash256.h"
#include "hashing/local_features.h"
#include "hashing/robust_fingerprint.h"
#include "hashing/pdq_hasher.h"
#include "hashing/vpdq.h"
#include "matcher/video_index.h"
#include "node/roles.h"
#include "storage/signal_store.h"

namespace hashbank {

namespace protocol {
class LabelEdit;
class Signal;
class ModelFingerprint;
class VideoFingerprint;
}  // namespace protocol

// A video's vPDQ, raw: frames in order (frame PDQ, quality, timestamp), the media time one frame stands for,
// and the video's duration (0 if unknown: the last timestamp plus one interval is used).
struct VideoInput {
  std::vector<VideoFrame> frames;
  double frame_interval = 0;  // seconds; 0 = derived from the timestamps (their median step, else 1 s)
  double duration = 0;
  // Keyframes (hashing/vpdq.h KeyframeOptions): each a robust fingerprint's encoding with raw descriptors,
  // and its time in seconds.
  std::vector<std::pair<std::string, double>> keyframes;
};


// Frames a submitted video may carry: two hours at one frame a second, about 1 h 56 min of 29.97 fps video
// (every 29th frame), an entry of about 270 KB.
inline constexpr size_t kMaxSubmittedVideoFrames = 7200;

struct EmbeddingInput {
  std::string model_id;  // 64 hex: SHA-256 of the model's weights
  std::vector<float> vector;
};

// One submission, in the member's raw (unsalted) values.
struct SignalInput {
  std::optional<Hash256> pdq;
  std::optional<int> quality;
  // A PDQ hash that arrives without its quality (HMA's API carries none; HMA's hasher gives no hash below
  // quality 50): accepted without the floor check and stored with quality 0, which means "not given".
  bool pdq_quality_unknown = false;
  std::optional<Md5Digest> md5;
  std::optional<Sha256Digest> sha256;
  std::optional<EmbeddingInput> embedding;
  // A robust fingerprint in its stored encoding (hashing/robust_fingerprint.h) with raw descriptors.
  std::optional<std::string> robust;
  std::optional<VideoInput> video;
  std::vector<std::string> labels;
  std::string case_ref;
  std::string bank;           // empty: the default bank (kDefaultBank)
  std::string content_id;     // the submitter's own content reference (<= 256 bytes)
  std::string note;           // free text (<= 1024 bytes)
  std::string metadata_json;  // a serialized JSON object (<= 4096 bytes), or empty
};

// The bank of signals submitted without one, and of every signal from before banks.
inline constexpr std::string_view kDefaultBank = "DEFAULT";
// A bank name as HMA has them: 1-64 of A-Z, 0-9, _, starting with a letter or _ (UPPER_SNAKE).
bool IsValidBankName(std::string_view name);
// The bank a stored signal belongs to (its `bank`, or kDefaultBank when empty or not a valid bank name).
std::string_view BankOf(const protocol::Signal& signal);
// A signal's or label edit's labels as this node lists and matches them: the valid ones (IsValidLabel),
// without repeats, at most 16 (as a submission here). A peer's entry may carry others (never made by this
// code): they stay in the signed bytes, relayed as received, and are never a listing key, a match's label
// or an event's.
std::vector<std::string> LabelsOf(const protocol::Signal& signal);
std::vector<std::string> LabelsOf(const protocol::LabelEdit& edit);

// An embedding model's fingerprint, as members publish it (protocol ModelFingerprint).
struct ModelInput {
  std::string model_id;  // SHA-256 (hex) of the weights file
  std::string name, version;
  uint32_t dimension = 0;
  uint32_t input_width = 0, input_height = 0;
  std::string colour_order = "RGB";
  std::vector<float> mean, std;
  std::string metric = "cosine";
  float threshold = 0.9f;
};

class SignalIntake {
 public:
  SignalIntake(std::unique_ptr<Salter> salter, int pdq_quality_floor);

  // Validates and salts one submission into a Signal message (without model checks: see Bank).
  absl::StatusOr<protocol::Signal> Build(const SignalInput& input, const Actor& actor) const;
  absl::Status ValidateModel(const ModelInput& model) const;

  Hash256 SaltPdq(const Hash256& raw) const;
  // The inverse (the salt holder can: an operator's export of its own bank).
  Hash256 UnsaltPdq(const Hash256& salted) const;
  absl::StatusOr<SaltedExactDigest> SaltExact(ExactKind kind, std::span<const uint8_t> raw) const;
  absl::StatusOr<std::vector<float>> SaltEmbedding(const EmbeddingInput& raw) const;
  // Local features with their descriptors salted (queries; coordinates unchanged).
  std::vector<LocalFeature> SaltFeatures(std::span<const LocalFeature> raw) const;
  // A raw robust fingerprint (its encoding) salted and sorted for storage. InvalidArgument ("<field>: ...")
  // as DecodeBankableRobust's.
  absl::StatusOr<std::string> SaltRobust(std::string_view raw, std::string_view field = "robust") const;
  // A video's frames with their PDQ salted (queries).
  std::vector<VideoFrame> SaltVideoFrames(std::span<const VideoFrame> raw) const;
  // A video's vPDQ salted as a banked signal's (a serialized protocol::VideoFingerprint; a watch entry's).
  // Errors as a submission's: InvalidArgument ("vpdq: ..."), FailedPrecondition when no frame reaches the
  // quality floor.
  absl::StatusOr<std::string> SaltVideo(const VideoInput& raw) const;
  const std::string& salt_id() const { return salter_->salt_id(); }
  const std::string& salt_check() const { return salter_->check_value(); }

 private:
  // Validates and salts a video's frames into `out`. InvalidArgument ("vpdq: ..."); FailedPrecondition when
  // no frame reaches the quality floor.
  absl::Status BuildVideo(const VideoInput& in, protocol::VideoFingerprint* out) const;

  std::unique_ptr<Salter> salter_;
  int quality_floor_;
};

// The index rows of a stored signal (exact digests, labels, the bank and case listing rows): added with the
// signal, deleted with its purge.
void AddSignalRows(StoreBatch* batch, const protocol::Signal& signal, const SignalRef& ref);
void DeleteSignalRows(StoreBatch* batch, const protocol::Signal& signal, const SignalRef& ref);
// Only the listing rows (the migration of signals stored before banks).
void AddListingRows(StoreBatch* batch, const protocol::Signal& signal, const SignalRef& ref);
// The `labels` row keys that list a bank's signals and a case's (SignalStore::ListByLabel).
std::string BankListKey(std::string_view bank);
std::string CaseListKey(std::string_view case_ref);
// A label: 1-64 characters of a-z, 0-9, _.
bool IsValidLabel(std::string_view label);
// At most 16 valid labels; duplicates are dropped (first kept, order otherwise kept). InvalidArgument names
// the rule broken.
absl::Status ValidateLabels(std::vector<std::string>* labels);
// A signal whose values were purged (withdrawn) carries none of them.
bool HasValues(const protocol::Signal& signal);
// A robust fingerprint's salted features in the order they are stored: by salted descriptor (then position),
// so the order reveals nothing of detection strength or position.
void SortBySaltedDescriptor(std::vector<LocalFeature>* features);
// A stored robust fingerprint's encoding with its descriptors un-salted with `from` and salted with `to`,
// sorted again under `to` (salt rotation: signals and watch entries). InvalidArgument when it does not decode.
// A raw robust fingerprint as a client sends it (JSON's "robust", or `field`), decoded, with
// kMinRobustFeatures to kMaxRobustFeatures features; InvalidArgument "<field>: ..." otherwise.
absl::StatusOr<RobustFingerprint> DecodeBankableRobust(std::string_view raw, std::string_view field = "robust");
absl::StatusOr<std::string> ResaltRobust(std::string_view encoded, const Salter& from, const Salter& to);
// A stored video fingerprint's frame hashes (VideoFingerprint.pdq: 32 bytes a frame) un-salted with `from` and
// salted with `to`. InvalidArgument when not a whole number of frames.
absl::StatusOr<std::string> ResaltVideoPdq(std::string_view frames, const Salter& from, const Salter& to);
// The signal types a stored signal carries: "pdq", "md5", "sha256", "embedding", "robust", "vpdq".
std::vector<std::string> SignalTypes(const protocol::Signal& signal);
// A stored video fingerprint's frames (salted, as stored) and its frame interval in seconds. InvalidArgument
// when the message is inconsistent (a peer's or a corrupted entry).
absl::Status DecodeVideoFingerprint(const protocol::VideoFingerprint& video, std::vector<VideoFrame>* frames,
                                    double* frame_interval);
// 64 lowercase hex digits.
bool IsLowerHex64(std::string_view s);
// Whether a model fingerprint (a peer's, or this node's) is one this code would publish: a 64-hex id, a
// dimension of 1 to 4096, a threshold in [-1, 1] and the cosine metric (ValidateModel's rules on these).
bool UsableModelFingerprint(const protocol::ModelFingerprint& model);

}  // namespace hashbank
