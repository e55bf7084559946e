// Salt rotation on one node (node/salt_rotation.h): ResaltSignal checked against building the same raw
// submission under the new salt (an independent path: SignalIntake salts raw values, ResaltSignal moves
// salted ones); re-publication in chunks around a withdrawal; a half-applied rotation accepting only its own
// target salt.
#include "node/salt_rotation.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "absl/strings/escaping.h"
#include "hashing/robust_fingerprint.h"
#include "node/notifications.h"
#include "node/kept_at_origin.h"
#include "node/signal_intake.h"
#include "protocol/entries.pb.h"
#include "protocol/log.pb.h"
#include "tests/node/bank_test_util.h"

namespace hashbank {
namespace {

using node_test::BankHarness;
using node_test::kMember;

FederationSalt First() { return FederationSalt::FromHex("salt-1", node_test::kSaltHex).value(); }
FederationSalt Successor(const FederationSalt& first, uint8_t fill) {
  FederationSalt next = FederationSalt::FromHex("salt-next", std::string(64, static_cast<char>('0' + fill))).value();
  next.exact_chain = {Salter(first).exact_chain_link()};
  return next;
}

SignalInput EveryKindOfValue(std::mt19937_64& rng) {
  SignalInput in;
  Hash256 pdq;
  for (auto& l : pdq.limbs) l = rng();
  in.pdq = pdq;
  in.quality = 90;
  Md5Digest md5{};
  for (auto& b : md5) b = static_cast<uint8_t>(rng());
  in.md5 = md5;
  Sha256Digest sha{};
  for (auto& b : sha) b = static_cast<uint8_t>(rng());
  in.sha256 = sha;
  std::vector<LocalFeature> features(40);
  for (size_t i = 0; i < features.size(); ++i) {
    for (auto& l : features[i].descriptor) l = rng();
    features[i].x = static_cast<uint16_t>(rng() % 4096);
    features[i].y = static_cast<uint16_t>(rng() % 4096);
  }
  in.robust = EncodeRobust(features, 1200, 900).value();
  VideoInput video;
  for (int i = 0; i < 5; ++i) {
    Hash256 f;
    for (auto& l : f.limbs) l = rng();
    video.frames.push_back({f, 80 + i, static_cast<double>(i)});
  }
  video.duration = 5;
  for (int k = 0; k < 2; ++k) {  // two keyframes: robust fingerprints of frames 0 and 3
    std::vector<LocalFeature> kf(12);
    for (LocalFeature& f : kf) {
      for (auto& l : f.descriptor) l = rng();
      f.x = static_cast<uint16_t>(rng() % 4096);
      f.y = static_cast<uint16_t>(rng() % 4096);
    }
    video.keyframes.emplace_back(EncodeRobust(kf, 640, 360).value(), 3.0 * k);
  }
  in.video = video;
  EmbeddingInput e;
  e.model_id = std::string(64, 'a');
  for (int i = 0; i < 32; ++i) e.vector.push_back(static_cast<float>(std::sin(i + 0.5)));
  in.embedding = e;
  in.labels = {"ndii"};
  in.bank = "DEFAULT";
  in.note = "kept";
  return in;
}

TEST(SaltRotationTest, AResaltedSignalIsTheSameSubmissionBuiltUnderTheNewSalt) {
  std::mt19937_64 rng(5);
  const FederationSalt first = First(), next = Successor(first, 7);
  const SignalIntake old_intake(std::make_unique<Salter>(first), 50), new_intake(std::make_unique<Salter>(next), 50);
  const Salter from(first), to(next);
  for (int round = 0; round < 3; ++round) {
    const SignalInput in = EveryKindOfValue(rng);
    auto old_signal = old_intake.Build(in, kMember);
    auto want = new_intake.Build(in, kMember);
    ASSERT_TRUE(old_signal.ok() && want.ok()) << old_signal.status() << want.status();
    auto got = ResaltSignal(*old_signal, 41, from, to);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->salt_id(), "salt-next");
    EXPECT_EQ(got->resalted_from(), 41u);
    EXPECT_NE(got->pdq(), old_signal->pdq());
    EXPECT_EQ(got->pdq(), want->pdq());
    EXPECT_EQ(got->md5(), want->md5());
    EXPECT_EQ(got->sha256(), want->sha256());
    EXPECT_EQ(got->robust(), want->robust()) << "descriptors moved and sorted again";
    EXPECT_EQ(got->video().pdq(), want->video().pdq());
    EXPECT_EQ(got->video().quality(), want->video().quality());
    ASSERT_EQ(got->video().keyframes_size(), 2);
    for (int k = 0; k < 2; ++k) {
      EXPECT_NE(got->video().keyframes(k), old_signal->video().keyframes(k));
      EXPECT_EQ(got->video().keyframes(k), want->video().keyframes(k)) << "keyframe " << k << " moved and sorted again";
    }
    EXPECT_EQ(got->video().keyframe_ms(1), 3000u);
    ASSERT_EQ(got->embedding().vector_size(), want->embedding().vector_size());
    for (int i = 0; i < got->embedding().vector_size(); ++i) {
      EXPECT_NEAR(got->embedding().vector(i), want->embedding().vector(i), 1e-5f) << i;
    }
    EXPECT_EQ(got->note(), "kept");
    EXPECT_EQ(std::vector<std::string>(got->labels().begin(), got->labels().end()), in.labels);
  }
  // Not a successor: refused.
  FederationSalt stranger = Successor(first, 8);
  stranger.exact_chain.clear();
  auto refused = ResaltSignal(*old_intake.Build(EveryKindOfValue(rng), kMember), 1, from, Salter(stranger));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
}

// A watch row's robust fingerprint (and PDQ, and video frames) moved to the new salt equals the same upload's values salted
// under it from raw (SignalIntake), the independent path.
TEST(SaltRotationTest, AWatchRowsRobustFingerprintIsTheUploadsUnderTheNewSalt) {
  std::mt19937_64 rng(9);
  const FederationSalt first = First(), next = Successor(first, 3);
  const SignalIntake old_intake(std::make_unique<Salter>(first), 50), new_intake(std::make_unique<Salter>(next), 50);
  const SignalInput in = EveryKindOfValue(rng);
  const std::string old_robust = old_intake.SaltRobust(*in.robust).value();
  const std::string want = new_intake.SaltRobust(*in.robust).value();
  ASSERT_NE(old_robust, want);
  ASSERT_TRUE(in.video.has_value());
  VideoInput video = *in.video;
  video.keyframes.clear();  // a watch entry's video is its frames
  const std::string old_video = old_intake.SaltVideo(video).value();
  const std::string want_video = new_intake.SaltVideo(video).value();
  ASSERT_NE(old_video, want_video);
  boost::json::object row{{"member", "m"}, {"content_ref", "upload-1"}, {"expires_ms", 5},
                          {"pdq", old_intake.SaltPdq(*in.pdq).ToHex()}, {"robust", absl::Base64Escape(old_robust)},
                          {"robust_mirrored", absl::Base64Escape(old_robust)}, {"vpdq", absl::Base64Escape(old_video)}};
  auto moved = ResaltWatchRow(boost::json::serialize(row), Salter(first), Salter(next));
  ASSERT_TRUE(moved.ok()) << moved.status();
  const boost::json::object got = boost::json::parse(*moved).as_object();
  EXPECT_EQ(got.at("robust").as_string(), absl::Base64Escape(want));
  EXPECT_EQ(got.at("robust_mirrored").as_string(), absl::Base64Escape(want));
  EXPECT_EQ(got.at("pdq").as_string(), new_intake.SaltPdq(*in.pdq).ToHex());
  EXPECT_EQ(got.at("vpdq").as_string(), absl::Base64Escape(want_video)) << "every frame's PDQ moved";
  EXPECT_EQ(got.at("content_ref").as_string(), "upload-1");
  // A row whose fingerprint does not decode is named, not moved half-way.
  row["robust"] = absl::Base64Escape("not a fingerprint");
  EXPECT_EQ(ResaltWatchRow(boost::json::serialize(row), Salter(first), Salter(next)).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(SaltRotationTest, RepublishingInChunksMovesEveryLiveSignalOnceAroundAWithdrawal) {
  BankHarness h;
  std::mt19937_64 rng(9);
  std::vector<SignalRef> refs;
  for (int i = 0; i < 5; ++i) {
    auto ref = h.bank->Submit(node_test::RandomSignal(rng).Input(), kMember);
    ASSERT_TRUE(ref.ok()) << ref.status();
    refs.push_back(*ref);
  }
  ASSERT_TRUE(h.bank->Withdraw(refs[2], kMember, "consent_withdrawn").ok());  // entry 6
  const Salter from(First()), to(Successor(First(), 7));
  const Bank::Resalter resalt = [&](const protocol::Signal& s, uint64_t seq) { return ResaltSignal(s, seq, from, to); };
  auto moved = h.bank->RepublishOwnSignals("test-salt", resalt, 2, node_test::kAdmin);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, 4u);
  auto map = h.bank->ResaltedOwnSignals();
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(map->size(), 4u);
  EXPECT_FALSE(map->contains(3)) << "the withdrawn signal is not re-published";
  for (const auto& [old_seq, new_seq] : *map) {
    auto old_info = h.bank->Get(SignalRef{"node-a", old_seq});
    auto new_info = h.bank->Get(SignalRef{"node-a", new_seq});
    ASSERT_TRUE(old_info.ok() && new_info.ok());
    EXPECT_TRUE(old_info->withdrawn) << old_seq;
    EXPECT_FALSE(new_info->withdrawn) << new_seq;
    EXPECT_EQ(new_info->labels, std::vector<std::string>{"ndii"});
    EXPECT_GT(new_seq, old_seq);
  }
  // Run again: nothing is left under the old salt.
  auto again = h.bank->RepublishOwnSignals("test-salt", resalt, 2, node_test::kAdmin);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);
  std::ostringstream report;
  EXPECT_TRUE(h.bank->VerifyStoredLogs(report).ok()) << report.str();
  EXPECT_TRUE(h.bank->VerifyTables(report).ok()) << report.str();
}

// federation.keep_at_origin: [robust, embedding]. The robust fingerprint, the video's keyframes and the
// embedding stay out of the signed entry, in the kept row; the bank matches through them, after a reopen too;
// a rotation re-salts them into the new signal's kept row (equal to a fresh build under the new salt) and
// drops the old row; a withdrawal drops the new one.
TEST(SaltRotationTest, PartsKeptAtTheOriginStayOutOfTheLogAndAreResaltedAndPurgedWithTheirSignal) {
  BankHarness h;
  h.keep = KeepAtOrigin{.robust = true, .embedding = true};
  h.Reopen();
  std::mt19937_64 rng(13);
  const SignalInput in = EveryKindOfValue(rng);
  ModelInput model;
  model.model_id = in.embedding->model_id;
  model.name = "test";
  model.version = "1";
  model.dimension = static_cast<uint32_t>(in.embedding->vector.size());
  model.input_width = model.input_height = 8;
  model.mean = {0, 0, 0};
  model.std = {1, 1, 1};
  ASSERT_TRUE(h.bank->PublishModel(model, node_test::kAdmin).ok());
  auto ref = h.bank->Submit(in, kMember);
  ASSERT_TRUE(ref.ok()) << ref.status();

  // The signed entry as members receive it.
  auto entry_of = [&](const SignalRef& r) {
    protocol::Entry entry;
    auto segment = h.bank->ExportSegment("node-a", r.sequence - 1, 1);
    EXPECT_TRUE(segment.ok()) << segment.status();
    protocol::LogSegment parsed;
    if (segment.ok() && parsed.ParseFromString(*segment) && parsed.leaves_size() == 1) {
      EXPECT_TRUE(entry.ParseFromString(parsed.leaves(0).entry()));
    }
    return entry;
  };
  const protocol::Entry shared = entry_of(*ref);
  ASSERT_TRUE(shared.has_signal());
  EXPECT_TRUE(shared.signal().robust().empty());
  EXPECT_FALSE(shared.signal().has_embedding());
  EXPECT_EQ(shared.signal().video().keyframes_size(), 0);
  EXPECT_EQ(shared.signal().video().keyframe_ms_size(), 0);
  EXPECT_FALSE(shared.signal().pdq().empty());
  EXPECT_GT(shared.signal().video().timestamp_ms_size(), 0) << "the vPDQ frames are shared";

  const SignalIntake old_intake(std::make_unique<Salter>(FederationSalt::FromHex("test-salt", node_test::kSaltHex).value()), 50);
  auto built = old_intake.Build(in, kMember);
  ASSERT_TRUE(built.ok()) << built.status();
  auto info = h.bank->Get(*ref);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->kept_at_origin, (std::vector<std::string>{"embedding", "robust"}));
  EXPECT_EQ(info->signal_types, (std::vector<std::string>{"pdq", "md5", "sha256", "embedding", "robust", "vpdq"}));
  auto stats = h.bank->Stats();
  EXPECT_EQ(stats.robust, 1u);
  EXPECT_EQ(stats.embeddings, 1u);
  EXPECT_EQ(stats.video_keyframes, 2u);
  h.Reopen();
  stats = h.bank->Stats();
  EXPECT_EQ(stats.robust, 1u) << "rebuilt from the kept row";
  EXPECT_EQ(stats.embeddings, 1u);
  EXPECT_EQ(stats.video_keyframes, 2u);
  auto by_embedding = h.bank->MatchEmbedding(*in.embedding, 0.99f, 10);
  ASSERT_TRUE(by_embedding.ok()) << by_embedding.status();
  ASSERT_EQ(by_embedding->size(), 1u);
  EXPECT_EQ((*by_embedding)[0].ref, *ref);

  // Rotation: the new signal keeps its parts here too, re-salted exactly as a fresh build under the new salt.
  const FederationSalt next = Successor(First(), 7);
  const Salter from(FederationSalt::FromHex("test-salt", node_test::kSaltHex).value()), to(next);
  const Bank::Resalter resalt = [&](const protocol::Signal& s, uint64_t seq) { return ResaltSignal(s, seq, from, to); };
  auto moved = h.bank->RepublishOwnSignals("test-salt", resalt, 10, node_test::kAdmin);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, 1u);
  auto map = h.bank->ResaltedOwnSignals();
  ASSERT_TRUE(map.ok());
  ASSERT_TRUE(map->contains(ref->sequence));
  const SignalRef fresh{"node-a", map->at(ref->sequence)};
  const protocol::Entry fresh_entry = entry_of(fresh);
  EXPECT_TRUE(fresh_entry.signal().robust().empty());
  EXPECT_FALSE(fresh_entry.signal().has_embedding());
  EXPECT_EQ(fresh_entry.signal().video().keyframes_size(), 0);
  const SignalIntake new_intake(std::make_unique<Salter>(next), 50);
  auto want = new_intake.Build(in, kMember);
  ASSERT_TRUE(want.ok());
  auto old_row = h.bank->GetStateRow(KeptRow(ref->sequence));
  auto new_row = h.bank->GetStateRow(KeptRow(fresh.sequence));
  ASSERT_TRUE(old_row.ok() && new_row.ok());
  EXPECT_FALSE(old_row->has_value()) << "the old signal's kept row goes with it";
  ASSERT_TRUE(new_row->has_value());
  protocol::Signal kept;
  ASSERT_TRUE(kept.ParseFromString(**new_row));
  EXPECT_EQ(kept.robust(), want->robust());
  ASSERT_EQ(kept.video().keyframes_size(), 2);
  EXPECT_EQ(kept.video().keyframes(1), want->video().keyframes(1));
  EXPECT_EQ(kept.video().keyframe_ms(1), 3000u);
  EXPECT_NE(kept.robust(), built->robust());
  ASSERT_EQ(kept.embedding().vector_size(), want->embedding().vector_size());
  EXPECT_NEAR(kept.embedding().vector(3), want->embedding().vector(3), 1e-5f);
  std::ostringstream report;
  EXPECT_TRUE(h.bank->VerifyTables(report).ok()) << report.str();
  EXPECT_NE(report.str().find("1 rows of fingerprints kept here"), std::string::npos) << report.str();

  ASSERT_TRUE(h.bank->Withdraw(fresh, kMember, "consent_withdrawn").ok());
  new_row = h.bank->GetStateRow(KeptRow(fresh.sequence));
  ASSERT_TRUE(new_row.ok());
  EXPECT_FALSE(new_row->has_value());
  stats = h.bank->Stats();
  EXPECT_EQ(stats.robust, 0u);
  EXPECT_EQ(stats.embeddings, 0u);
  EXPECT_EQ(stats.video_keyframes, 0u);

  // Nothing shared is left: a submission of kept types only is refused.
  SignalInput robust_only;
  robust_only.robust = in.robust;
  auto refused = h.bank->Submit(robust_only, kMember);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("keep_at_origin"), std::string_view::npos) << refused.status();
}

TEST(SaltRotationTest, AHalfAppliedRotationIsFinishedOnlyWithItsOwnTargetSalt) {
  BankHarness h;
  std::mt19937_64 rng(3);
  ASSERT_TRUE(h.bank->Submit(node_test::RandomSignal(rng).Input(), kMember).ok());
  const FederationSalt first = FederationSalt::FromHex("test-salt", node_test::kSaltHex).value();
  const Salter from(first), target(Successor(first, 7)), other(Successor(first, 8));
  ASSERT_TRUE(target.Follows(from) && other.Follows(from));
  // As if an earlier run stopped right after its first chunk.
  ASSERT_TRUE(h.bank->PutStateRow(kSaltRotationTargetRow, target.check_value()).ok());
  auto refused = ApplySaltRotation(h.bank.get(), from, other);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  auto done = ApplySaltRotation(h.bank.get(), from, target);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->republished, 1u);
  EXPECT_TRUE(done->local_state_done);
  auto row = h.bank->GetStateRow(kSaltRotationTargetRow);
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(row->has_value()) << "cleared with the switch";
  EXPECT_EQ(*h.bank->GetStateRow("salt_check"), std::optional<std::string>(target.check_value()));
}

}  // namespace
}  // namespace hashbank
