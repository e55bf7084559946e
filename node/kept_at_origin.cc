#include "node/kept_at_origin.h"

#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "storage/signal_store.h"

namespace hashbank {

namespace pb = ::hashbank::protocol;

absl::StatusOr<KeepAtOrigin> KeepAtOrigin::FromNames(const std::vector<std::string>& names) {
  KeepAtOrigin keep;
  for (const std::string& n : names) {
    if (n == "robust") {
      keep.robust = true;
    } else if (n == "embedding") {
      keep.embedding = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("federation.keep_at_origin: \"", n,
                                                     "\" is not a type that can be kept at the origin (robust, embedding)"));
    }
  }
  return keep;
}

std::vector<std::string> KeepAtOrigin::Names() const {
  std::vector<std::string> out;
  if (embedding) out.push_back("embedding");
  if (robust) out.push_back("robust");
  return out;
}

std::string KeptRow(uint64_t sequence) { return absl::StrFormat("%s%020u", kKeptRowPrefix, sequence); }

std::optional<pb::Signal> SplitKept(const KeepAtOrigin& keep, pb::Signal* sig) {
  pb::Signal kept;
  bool any = false;
  if (keep.robust && !sig->robust().empty()) {
    kept.set_robust(std::move(*sig->mutable_robust()));
    sig->clear_robust();
    any = true;
  }
  if (keep.robust && sig->has_video() && sig->video().keyframes_size() > 0) {
    pb::VideoFingerprint* v = sig->mutable_video();
    pb::VideoFingerprint* k = kept.mutable_video();
    k->mutable_keyframes()->Swap(v->mutable_keyframes());
    k->mutable_keyframe_ms()->Swap(v->mutable_keyframe_ms());
    any = true;
  }
  if (keep.embedding && sig->has_embedding()) {
    kept.mutable_embedding()->Swap(sig->mutable_embedding());
    sig->clear_embedding();
    any = true;
  }
  if (!any) return std::nullopt;
  return kept;
}

void MergeKept(const pb::Signal& kept, pb::Signal* sig) {
  if (!kept.robust().empty()) sig->set_robust(kept.robust());
  if (kept.has_embedding()) *sig->mutable_embedding() = kept.embedding();
  if (kept.has_video() && sig->has_video()) {
    pb::VideoFingerprint* v = sig->mutable_video();
    v->mutable_keyframes()->CopyFrom(kept.video().keyframes());
    v->mutable_keyframe_ms()->CopyFrom(kept.video().keyframe_ms());
  }
}

absl::StatusOr<StoredKept> ReadKept(const SignalStore& store, uint64_t sequence) {
  auto row = store.GetState(KeptRow(sequence));
  if (!row.ok()) return row.status();
  StoredKept out;
  if (!row->has_value()) return out;
  out.present = true;
  pb::Signal kept;
  if (kept.ParseFromString(**row) && !KeptTypes(kept).empty()) {
    out.parts = std::move(kept);
  } else {
    std::cerr << "hashbank: state row " << KeptRow(sequence)
              << " does not parse; its signal goes on without its kept fingerprints\n";
  }
  return out;
}

std::vector<std::string> KeptTypes(const pb::Signal& kept) {
  std::vector<std::string> out;
  if (kept.has_embedding()) out.push_back("embedding");
  if (!kept.robust().empty() || (kept.has_video() && kept.video().keyframes_size() > 0)) out.push_back("robust");
  return out;
}

}  // namespace hashbank
