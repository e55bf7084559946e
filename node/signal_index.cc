#include "node/signal_index.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "hashing/robust_fingerprint.h"
#include "node/entry_bytes.h"
#include "node/signal_intake.h"
#include "protocol/entries.pb.h"

namespace hashbank {
namespace {

namespace pb = ::hashbank::protocol;

std::string RefKey(const SignalRef& ref) { return absl::StrCat(ref.origin, "\n", ref.sequence); }

}  // namespace

SignalIndex::SignalIndex(int video_min_quality, RobustSource robust_source)
    : robust_(RobustIndex::kDefaultTables,
              robust_source == nullptr
                  ? RobustIndex::Loader()
                  : [this, source = std::move(robust_source)](uint64_t local) -> absl::StatusOr<std::string> {
                      const std::optional<SignalRef> ref = LiveRef(local);
                      if (!ref) return absl::NotFoundError("removed");
                      return source(*ref);
                    }),
      video_(video_min_quality) {}

absl::Status SignalIndex::Add(const SignalRef& ref, const pb::Entry& entry, PdqBatch* pdq) {
  if (entry.has_model()) RegisterModel(entry.model());
  if (!entry.has_signal()) return absl::OkStatus();
  const pb::Signal& sig = entry.signal();
  if (!HasValues(sig)) return absl::OkStatus();  // withdrawn: values purged
  // Registration and every insert under one lock, so that a Remove sees either nothing of the signal or all
  // of it; the PDQ posting is marked pending until FlushPdq, which skips it if it was removed meanwhile.
  absl::MutexLock lock(&mu_);
  if (!removed_early_.empty() && removed_early_.erase(RefKey(ref)) > 0) {
    labels_early_.erase(RefKey(ref));
    return absl::OkStatus();
  }
  const uint64_t local = RegisterLocal(ref, sig);
  ++live_;
  const bool has_pdq = sig.pdq().size() == 32;
  pdq_state_.push_back(has_pdq ? kPdqPending : kPdqNone);
  if (has_pdq) pdq->push_back({PdqFromBytes(sig.pdq()), local});
  if (sig.md5().size() == 32) {
    if (absl::Status s = md5_.Insert(DigestFromBytes(sig.md5()), local); !s.ok()) return s;
  }
  if (sig.sha256().size() == 32) {
    if (absl::Status s = sha256_.Insert(DigestFromBytes(sig.sha256()), local); !s.ok()) return s;
  }
  if (sig.has_embedding()) {
    const auto& e = sig.embedding();
    if (absl::Status s = vectors_.AddModel(e.model_id(), e.vector_size()); !s.ok() && !absl::IsAlreadyExists(s)) return s;
    std::vector<float> v(e.vector().begin(), e.vector().end());
    if (absl::Status s = vectors_.Insert(e.model_id(), local, v); !s.ok()) return s;
  }
  // A member's malformed or oversized robust fingerprint leaves the signal indexed for its other types; the
  // error tells the caller (Bank::Rebuild counts it as unindexable).
  if (!sig.robust().empty()) {
    if (sig.robust().size() > kRobustHeaderBytes + kRobustFeatureBytes * kMaxRobustFeatures) {
      return absl::InvalidArgumentError(absl::StrCat("robust fingerprint of over ", kMaxRobustFeatures, " features"));
    }
    if (absl::Status s = robust_.InsertEncoded(local, sig.robust(), bulk_loading_.load()); !s.ok()) return s;
  }
  if (sig.has_video()) {
    std::vector<VideoFrame> frames;
    double interval = 0;
    if (absl::Status s = DecodeVideoFingerprint(sig.video(), &frames, &interval); !s.ok()) return s;
    if (absl::Status s = video_.Insert(local, frames, interval, bulk_loading_.load()); !s.ok()) return s;
    const std::vector<std::string> keyframes(sig.video().keyframes().begin(), sig.video().keyframes().end());
    if (absl::Status s = keyframes_.Insert(local, keyframes, bulk_loading_.load()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void SignalIndex::BeginBulkLoad() { bulk_loading_ = true; }

absl::Status SignalIndex::FlushPdq(PdqBatch& pdq, bool bulk) {
  absl::MutexLock lock(&mu_);
  // Postings of signals removed since their Add are dropped here, never inserted.
  std::erase_if(pdq, [this](const std::pair<Hash256, uint64_t>& p) ABSL_NO_THREAD_SAFETY_ANALYSIS {  // mu_ held
    uint8_t& state = pdq_state_[p.second];
    const bool drop = state == kPdqDropOnFlush;
    state = kPdqNone;
    return drop;
  });
  absl::Status s = absl::OkStatus();
  if (!pdq.empty()) s = bulk ? pdq_.BulkLoad(pdq) : pdq_.InsertBatch(pdq).status();
  if (bulk && bulk_loading_.exchange(false)) {
    robust_.FinishBulk();
    keyframes_.FinishBulk();
    if (absl::Status v = video_.FinishBulk(); !v.ok() && s.ok()) s = v;
  }
  pdq.clear();
  return s;
}

void SignalIndex::Remove(const SignalRef& ref, const pb::Signal& sig) {
  absl::MutexLock lock(&mu_);
  const std::optional<uint64_t> found = LocalOf(ref);
  if (!found) {
    // Not indexed yet: the submitter's Add comes after this withdrawal, and must add nothing.
    removed_early_.insert(RefKey(ref));
    labels_early_.erase(RefKey(ref));
    return;
  }
  const uint64_t local = *found;
  label_edit_of_.erase(local);
  // The local number stays reserved (its slot in locals_); the ref no longer resolves to it.
  local_by_sequence_[origin_index_.at(ref.origin)][ref.sequence - 1] = 0;
  --live_;
  if (auto b = bank_counts_.find(label_sets_[locals_[local].label_set].bank); b != bank_counts_.end() && --b->second == 0) {
    bank_counts_.erase(b);
  }
  --label_set_live_[locals_[local].label_set];
  if (pdq_state_[local] == kPdqPending) {
    pdq_state_[local] = kPdqDropOnFlush;  // added, not flushed yet: FlushPdq leaves it out
  } else if (sig.pdq().size() == 32) {
    (void)pdq_.Remove(PdqFromBytes(sig.pdq()), local);
  }
  if (sig.md5().size() == 32) (void)md5_.Remove(DigestFromBytes(sig.md5()), local);
  if (sig.sha256().size() == 32) (void)sha256_.Remove(DigestFromBytes(sig.sha256()), local);
  if (sig.has_embedding()) (void)vectors_.Remove(sig.embedding().model_id(), local);
  if (!sig.robust().empty()) robust_.Remove(local, sig.robust());
  if (sig.has_video()) {
    std::vector<VideoFrame> frames;
    double interval = 0;
    if (DecodeVideoFingerprint(sig.video(), &frames, &interval).ok()) video_.Remove(local, frames);
  }
  keyframes_.Remove(local);
}

std::vector<Match> SignalIndex::Resolve(std::vector<Match> matches) const {
  absl::ReaderMutexLock lock(&mu_);
  for (Match& m : matches) {
    const LocalSignal& l = locals_[m.ref.sequence];  // the sequence field holds the local number until here
    m.ref = SignalRef{origins_[l.origin], l.sequence};
    m.labels = label_sets_[l.label_set].labels;
    m.bank = label_sets_[l.label_set].bank;
  }
  if (!excluded_.empty()) {
    std::erase_if(matches, [this](const Match& m) ABSL_NO_THREAD_SAFETY_ANALYSIS {  // mu_ held above
      return excluded_.contains(m.ref.origin);
    });
  }
  return matches;
}

std::vector<Match> SignalIndex::MatchPdq(std::span<const Hash256> salted, int max_distance) const {
  std::vector<Match> out;
  for (size_t q = 0; q < salted.size(); ++q) {
    for (const PdqMatch& m : pdq_.Query(salted[q], max_distance)) {
      Match x;
      x.ref.sequence = m.id;
      x.signal_type = "pdq";
      x.distance = m.distance;
      x.query_index = q;
      out.push_back(std::move(x));
    }
  }
  return Resolve(std::move(out));
}

std::vector<Match> SignalIndex::MatchDihedral(const std::array<Hash256, kNumDihedral>& salted, int max_distance) const {
  std::vector<Match> out;
  for (const PdqDihedralMatch& m : pdq_.QueryDihedral(salted, max_distance)) {
    Match x;
    x.ref.sequence = m.id;
    x.signal_type = "pdq";
    x.distance = m.distance;
    x.transform = m.transform;
    out.push_back(std::move(x));
  }
  return Resolve(std::move(out));
}

std::vector<Match> SignalIndex::MatchRobust(std::span<const LocalFeature> direct,
                                            std::span<const LocalFeature> mirrored) const {
  std::vector<Match> out;
  for (const RobustIndex::Hit& h : robust_.Query(direct, mirrored)) {
    Match x;
    x.ref.sequence = h.id;
    x.signal_type = "robust";
    x.robust = h.verdict;
    x.mirrored = h.mirrored;
    out.push_back(std::move(x));
  }
  return Resolve(std::move(out));
}

std::vector<Match> SignalIndex::MatchVideo(std::span<const VideoQueryPass> salted_passes, double frame_interval,
                                           const VideoMatchRule& rule) const {
  std::vector<Match> out;
  for (const VideoQueryPass& pass : salted_passes) {
    for (const VideoMatch& m : video_.Query(pass.frames, frame_interval, rule)) {
      // A video found by an earlier pass is not reported again.
      if (std::any_of(out.begin(), out.end(), [&](const Match& x) { return x.ref.sequence == m.id; })) continue;
      Match x;
      x.ref.sequence = m.id;
      x.signal_type = "vpdq";
      x.video = m.verdict;
      x.mirrored = pass.mirrored;
      x.bars_removed = pass.bars_removed;
      out.push_back(std::move(x));
    }
  }
  return Resolve(std::move(out));
}

std::vector<Match> SignalIndex::MatchVideoKeyframes(std::span<const VideoKeyframeQuery> salted) const {
  std::vector<Match> out;
  for (const KeyframeIndex::Hit& h : keyframes_.Query(salted)) {
    Match x;
    x.ref.sequence = h.video;
    x.signal_type = "robust";
    x.robust = h.best.verdict;
    x.mirrored = h.best.mirrored;
    x.keyframes = h.keyframes;
    out.push_back(std::move(x));
  }
  return Resolve(std::move(out));
}

std::vector<Match> SignalIndex::MatchExact(ExactKind kind, const SaltedExactDigest& salted) const {
  std::vector<Match> out;
  for (uint64_t id : (kind == ExactKind::kMd5 ? md5_ : sha256_).Find(salted)) {
    Match x;
    x.ref.sequence = id;
    x.signal_type = kind == ExactKind::kMd5 ? "md5" : "sha256";
    out.push_back(std::move(x));
  }
  return Resolve(std::move(out));
}

absl::StatusOr<std::vector<Match>> SignalIndex::MatchEmbedding(const std::string& model_id, std::span<const float> salted,
                                                               float min_similarity, size_t limit,
                                                               const std::function<bool(const Match&)>& keep) const {
  auto found = vectors_.SearchThreshold(model_id, salted, min_similarity);
  if (!found.ok()) {
    if (absl::IsInvalidArgument(found.status())) {
      return absl::InvalidArgumentError(absl::StrCat("embedding.vector: ", std::string(found.status().message())));
    }
    return found.status();
  }
  // Resolved and filtered a chunk at a time, in similarity order, until `limit` are kept: a low threshold
  // may find the whole model's entries, and most requests stop after the first chunk.
  std::vector<Match> out;
  const size_t chunk = std::max<size_t>(limit, 64);
  for (size_t at = 0; at < found->size() && out.size() < limit; at += chunk) {
    std::vector<Match> part;
    for (size_t i = at; i < std::min(found->size(), at + chunk); ++i) {
      Match x;
      x.ref.sequence = (*found)[i].id;
      x.signal_type = "embedding";
      x.similarity = (*found)[i].similarity;
      part.push_back(std::move(x));
    }
    for (Match& m : Resolve(std::move(part))) {
      if (out.size() >= limit) break;
      if (!keep || keep(m)) out.push_back(std::move(m));
    }
  }
  return out;
}

size_t SignalIndex::EmbeddingCount(const std::string& model_id) const { return vectors_.size(model_id); }

void SignalIndex::RegisterModel(const pb::ModelFingerprint& model) {
  // A fingerprint this code would never publish (a peer's entry may carry anything its signature covers)
  // does not claim the model id: its embeddings stay unmatchable until a usable fingerprint arrives.
  if (!UsableModelFingerprint(model)) return;
  uint32_t dimension = 0;
  {
    absl::MutexLock lock(&mu_);
    // The first fingerprint of a model id wins.
    dimension = models_.try_emplace(model.model_id(), model).first->second.dimension();
  }
  (void)vectors_.AddModel(model.model_id(), static_cast<int>(dimension));
}

std::optional<uint32_t> SignalIndex::ModelDimension(const std::string& model_id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = models_.find(model_id);
  if (it == models_.end()) return std::nullopt;
  return it->second.dimension();
}

std::optional<pb::ModelFingerprint> SignalIndex::Model(const std::string& model_id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = models_.find(model_id);
  if (it == models_.end()) return std::nullopt;
  return it->second;
}

void SignalIndex::SetExcluded(const std::string& origin, bool excluded) {
  absl::MutexLock lock(&mu_);
  if (excluded) {
    excluded_.insert(origin);
  } else {
    excluded_.erase(origin);
  }
}

IndexStats SignalIndex::Stats() const {
  IndexStats s;
  s.pdq = pdq_.size();
  s.exact = md5_.size() + sha256_.size();
  s.md5 = md5_.size();
  s.embeddings = vectors_.total_size();
  s.pdq_index_bytes = pdq_.MemoryBytes();
  s.robust = robust_.size();
  s.robust_index_bytes = robust_.MemoryBytes();
  s.videos = video_.videos();
  s.video_frames = video_.frames();
  s.video_index_bytes = video_.MemoryBytes();
  s.video_keyframes = keyframes_.keyframes();
  s.video_keyframe_bytes = keyframes_.MemoryBytes();
  absl::ReaderMutexLock lock(&mu_);
  s.signals = live_;
  return s;
}

std::vector<std::pair<std::string, size_t>> SignalIndex::BankCounts() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::pair<std::string, size_t>> out(bank_counts_.begin(), bank_counts_.end());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::pair<std::string, size_t>> SignalIndex::LabelCounts() const {
  absl::ReaderMutexLock lock(&mu_);
  std::map<std::string, size_t> counts;
  for (size_t i = 0; i < label_sets_.size(); ++i) {
    if (label_set_live_[i] == 0) continue;
    for (const std::string& l : label_sets_[i].labels) counts[l] += label_set_live_[i];
  }
  return {counts.begin(), counts.end()};
}

uint32_t SignalIndex::InternLabelSet(std::string_view bank, std::vector<std::string> labels) {
  std::vector<std::string> unique;  // a member may send a label twice: it counts once
  for (std::string& l : labels) {
    if (std::find(unique.begin(), unique.end(), l) == unique.end()) unique.push_back(std::move(l));
  }
  labels = std::move(unique);
  std::string key(bank);
  key += '\0';
  for (const std::string& l : labels) {
    key += l;
    key += '\n';
  }
  auto [lit, new_set] = label_set_index_.try_emplace(key, static_cast<uint32_t>(label_sets_.size()));
  if (new_set) {
    label_sets_.push_back(LabelSet{std::string(bank), std::move(labels)});
    label_set_live_.push_back(0);
  }
  return lit->second;
}

uint64_t SignalIndex::RegisterLocal(const SignalRef& ref, const pb::Signal& sig) {
  auto [oit, new_origin] = origin_index_.try_emplace(ref.origin, static_cast<uint32_t>(origins_.size()));
  if (new_origin) {
    origins_.push_back(ref.origin);
    local_by_sequence_.emplace_back();
  }
  // A label edit that arrived before this Add (SetLabels with `early`) replaces the submitted labels.
  std::vector<std::string> labels = LabelsOf(sig);
  uint64_t edit_sequence = 0;
  if (!labels_early_.empty()) {
    if (auto e = labels_early_.find(RefKey(ref)); e != labels_early_.end()) {
      edit_sequence = e->second.first;
      labels = std::move(e->second.second);
      labels_early_.erase(e);
    }
  }
  const uint32_t set = InternLabelSet(BankOf(sig), std::move(labels));
  ++bank_counts_[label_sets_[set].bank];
  ++label_set_live_[set];
  const uint64_t local = locals_.size();
  if (edit_sequence != 0) label_edit_of_[local] = edit_sequence;
  locals_.push_back(LocalSignal{oit->second, set, ref.sequence});
  std::vector<uint64_t>& by_sequence = local_by_sequence_[oit->second];
  if (by_sequence.size() < ref.sequence) by_sequence.resize(std::max<uint64_t>(ref.sequence, by_sequence.size() * 3 / 2), 0);
  by_sequence[ref.sequence - 1] = local + 1;
  return local;
}

void SignalIndex::SetLabels(const SignalRef& ref, std::vector<std::string> labels, uint64_t edit_sequence, bool early) {
  absl::MutexLock lock(&mu_);
  const std::optional<uint64_t> found = LocalOf(ref);
  if (!found) {
    if (early && !removed_early_.contains(RefKey(ref))) {
      auto& slot = labels_early_[RefKey(ref)];
      if (edit_sequence > slot.first) slot = {edit_sequence, std::move(labels)};
    }
    return;
  }
  uint64_t& applied = label_edit_of_[*found];
  if (edit_sequence <= applied) return;  // an older edit's update, overtaken by a newer one
  applied = edit_sequence;
  LocalSignal& l = locals_[*found];
  const std::string bank = label_sets_[l.label_set].bank;
  --label_set_live_[l.label_set];
  l.label_set = InternLabelSet(bank, std::move(labels));
  ++label_set_live_[l.label_set];
}

std::optional<SignalRef> SignalIndex::LiveRef(uint64_t local) const {
  absl::ReaderMutexLock lock(&mu_);
  if (local >= locals_.size()) return std::nullopt;
  SignalRef ref{origins_[locals_[local].origin], locals_[local].sequence};
  if (LocalOf(ref) != local) return std::nullopt;  // removed
  return ref;
}

std::optional<uint64_t> SignalIndex::LocalOf(const SignalRef& ref) const {
  auto it = origin_index_.find(ref.origin);
  if (it == origin_index_.end() || ref.sequence == 0) return std::nullopt;
  const std::vector<uint64_t>& by_sequence = local_by_sequence_[it->second];
  if (ref.sequence > by_sequence.size() || by_sequence[ref.sequence - 1] == 0) return std::nullopt;
  return by_sequence[ref.sequence - 1] - 1;
}

}  // namespace hashbank
