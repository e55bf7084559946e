#include "node/salt_rotation.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "hashing/robust_fingerprint.h"
#include "node/case_desk.h"
#include "node/content_catalog.h"
#include "node/entry_bytes.h"
#include "node/notifications.h"
#include "node/signal_intake.h"
#include "node/status_macros.h"

namespace hashbank {
namespace {

namespace pb = protocol;

std::string MovePdq(std::string_view bytes, const Salter& from, const Salter& to) {
  Hash256 h = PdqFromBytes(bytes);
  h.limbs = to.SaltPdq(from.UnsaltPdq(h.limbs));
  return PdqBytes(h);
}

absl::StatusOr<std::string> MoveExact(std::string_view bytes, ExactKind kind, const Salter& to) {
  if (bytes.size() != 32) return absl::InvalidArgumentError("an exact digest is not 32 bytes");
  SaltedExactDigest d;
  std::copy(bytes.begin(), bytes.end(), d.begin());
  const SaltedExactDigest moved = to.ResaltExact(kind, d);
  return std::string(moved.begin(), moved.end());
}

absl::StatusOr<std::string> MoveRobust(const std::string& encoded, const Salter& from, const Salter& to,
                                       const char* what) {
  absl::StatusOr<std::string> out = ResaltRobust(encoded, from, to);
  if (!out.ok()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", out.status().message()));
  return out;
}

}  // namespace

absl::StatusOr<pb::Signal> ResaltSignal(const pb::Signal& old, uint64_t old_sequence, const Salter& from,
                                        const Salter& to) {
  if (!to.Follows(from)) return absl::FailedPreconditionError("the new salt does not follow the old one");
  pb::Signal s = old;
  s.set_salt_id(to.salt_id());
  s.set_resalted_from(old_sequence);
  if (!old.pdq().empty()) {
    if (old.pdq().size() != 32) return absl::InvalidArgumentError("pdq is not 32 bytes");
    s.set_pdq(MovePdq(old.pdq(), from, to));
  }
  if (!old.md5().empty()) {
    HB_ASSIGN_OR_RETURN(*s.mutable_md5(), MoveExact(old.md5(), ExactKind::kMd5, to));
  }
  if (!old.sha256().empty()) {
    HB_ASSIGN_OR_RETURN(*s.mutable_sha256(), MoveExact(old.sha256(), ExactKind::kSha256, to));
  }
  if (old.has_video()) {
    HB_ASSIGN_OR_RETURN(*s.mutable_video()->mutable_pdq(), ResaltVideoPdq(old.video().pdq(), from, to));
  }
  if (old.has_embedding()) {
    const auto& v = old.embedding().vector();
    HB_ASSIGN_OR_RETURN(std::vector<float> raw, from.UnsaltEmbedding(std::span<const float>(v.data(), static_cast<size_t>(v.size()))));
    HB_ASSIGN_OR_RETURN(std::vector<float> moved, to.SaltEmbedding(raw));
    s.mutable_embedding()->clear_vector();
    for (float x : moved) s.mutable_embedding()->add_vector(x);
  }
  if (!old.robust().empty()) {
    HB_ASSIGN_OR_RETURN(*s.mutable_robust(), MoveRobust(old.robust(), from, to, "robust"));
  }
  if (old.has_video()) {
    for (int i = 0; i < old.video().keyframes_size(); ++i) {
      HB_ASSIGN_OR_RETURN(*s.mutable_video()->mutable_keyframes(i),
                          MoveRobust(old.video().keyframes(i), from, to, "video keyframe"));
    }
  }
  return s;
}

absl::StatusOr<SaltRotationReport> ApplySaltRotation(Bank* bank, const Salter& from, const Salter& to) {
  if (!to.Follows(from)) {
    return absl::FailedPreconditionError(
        absl::StrCat("salt ", to.salt_id(), " does not follow this node's salt ", from.salt_id(),
                     " (make the new salt with `hashbank salt rotate` from the federation's current salt.json)"));
  }
  SaltRotationReport report;
  const Actor actor{"salt-rotation", Role::kAdmin};
  // From the first re-published signal on, this rotation must be finished, and with this salt: another
  // successor (a second `salt rotate`) would leave the signals moved so far under a salt nobody uses.
  HB_ASSIGN_OR_RETURN(std::optional<std::string> target, bank->GetStateRow(kSaltRotationTargetRow));
  if (target && *target != to.check_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a rotation to another salt (check value ", *target, ") is half applied here; finish it with that salt file"));
  }
  if (!target) HB_RETURN_IF_ERROR(bank->PutStateRow(kSaltRotationTargetRow, to.check_value()));
  const Bank::Resalter resalt = [&](const pb::Signal& old, uint64_t seq) { return ResaltSignal(old, seq, from, to); };
  HB_ASSIGN_OR_RETURN(report.republished, bank->RepublishOwnSignals(from.salt_id(), resalt, 1000, actor));
  HB_ASSIGN_OR_RETURN(std::optional<std::string> db_salt, bank->GetStateRow("salt_id"));
  if (db_salt && *db_salt == to.salt_id()) return report;  // step 2 ran in an earlier run

  // Step 2, one batch: the watch list, case records and HMA content state, and the database's salt.
  absl::StatusOr<std::map<uint64_t, uint64_t>> moved_or = bank->ResaltedOwnSignals();
  if (!moved_or.ok()) return moved_or.status();
  const std::map<uint64_t, uint64_t>& moved = *moved_or;
  std::vector<std::pair<std::string, std::string>> puts;
  std::vector<std::string> deletes;
  HB_RETURN_IF_ERROR(bank->ForEachStateRow(kWatchRowPrefix, [&](std::string_view key, std::string_view value) -> absl::Status {
    HB_ASSIGN_OR_RETURN(std::string row, ResaltWatchRow(value, from, to));
    puts.emplace_back(absl::StrCat(std::string(kWatchRowPrefix), std::string(key)), std::move(row));
    ++report.watch_entries;
    return absl::OkStatus();
  }));
  HB_RETURN_IF_ERROR(bank->ForEachStateRow(kCaseRowPrefix, [&](std::string_view key, std::string_view value) -> absl::Status {
    HB_ASSIGN_OR_RETURN(std::optional<std::string> row, RemapCaseRecord(value, bank->node_id(), moved));
    if (row) {
      puts.emplace_back(absl::StrCat(std::string(kCaseRowPrefix), std::string(key)), *std::move(row));
      ++report.cases;
    }
    return absl::OkStatus();
  }));
  // HMA content state rows (ContentRow): this node's own move with their signals.
  const std::string own_content = absl::StrCat(std::string(kContentRowPrefix), bank->node_id(), "/");
  HB_RETURN_IF_ERROR(bank->ForEachStateRow(own_content, [&](std::string_view key, std::string_view value) -> absl::Status {
    uint64_t seq = 0;
    if (!absl::SimpleAtoi(absl::string_view(key.data(), key.size()), &seq)) return absl::OkStatus();
    if (auto it = moved.find(seq); it != moved.end()) {
      puts.emplace_back(ContentRow(SignalRef{bank->node_id(), it->second}), std::string(value));
      deletes.push_back(ContentRow(SignalRef{bank->node_id(), seq}));
    }
    return absl::OkStatus();
  }));
  HB_RETURN_IF_ERROR(bank->CommitSaltSwitch(to, puts, deletes));
  report.local_state_done = true;
  return report;
}

}  // namespace hashbank
