// SignalIndex on its own: a signal removed before it was added (a withdrawal that overtook the submitter's
// index insert) is never added afterwards — by PDQ, MD5 or SHA-256 — and counts for nothing, while a signal
// added normally matches and a removal after the add forgets it.
#include "node/signal_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "node/entry_bytes.h"
#include "protocol/entries.pb.h"
#include "tests/node/bank_test_util.h"

namespace hashbank {
namespace {

namespace pb = ::hashbank::protocol;

// One signal's (already salted) values as the index sees them.
struct Values {
  Hash256 pdq;
  SaltedExactDigest md5{}, sha256{};
};

Values RandomValues(std::mt19937_64& rng) {
  Values v;
  for (auto& limb : v.pdq.limbs) limb = rng();
  for (auto& b : v.md5) b = static_cast<uint8_t>(rng() & 0xFF);
  for (auto& b : v.sha256) b = static_cast<uint8_t>(rng() & 0xFF);
  return v;
}

pb::Entry SignalEntry(const SignalRef& ref, const Values& v) {
  pb::Entry e;
  e.set_schema_version(1);
  e.set_origin(ref.origin);
  e.set_sequence(ref.sequence);
  e.set_created_at_unix_ms(node_test::kNow);
  pb::Signal* s = e.mutable_signal();
  s->set_salt_id("test-salt");
  s->set_pdq(PdqBytes(v.pdq));
  s->set_pdq_quality(100);
  s->set_md5(std::string(v.md5.begin(), v.md5.end()));
  s->set_sha256(std::string(v.sha256.begin(), v.sha256.end()));
  s->add_labels("ndii");
  return e;
}

std::vector<SignalRef> Refs(const std::vector<Match>& matches) {
  std::vector<SignalRef> refs;
  for (const Match& m : matches) refs.push_back(m.ref);
  return refs;
}

std::vector<SignalRef> ByPdq(const SignalIndex& index, const Values& v) {
  return Refs(index.MatchPdq(std::span<const Hash256>(&v.pdq, 1), 0));
}
std::vector<SignalRef> ByMd5(const SignalIndex& index, const Values& v) { return Refs(index.MatchExact(ExactKind::kMd5, v.md5)); }
std::vector<SignalRef> BySha256(const SignalIndex& index, const Values& v) {
  return Refs(index.MatchExact(ExactKind::kSha256, v.sha256));
}

void ExpectIndexedAs(const SignalIndex& index, const Values& v, const SignalRef& ref) {
  SCOPED_TRACE(FormatSignalId(ref));
  EXPECT_EQ(ByPdq(index, v), std::vector<SignalRef>{ref});
  EXPECT_EQ(ByMd5(index, v), std::vector<SignalRef>{ref});
  EXPECT_EQ(BySha256(index, v), std::vector<SignalRef>{ref});
}

void ExpectNotIndexed(const SignalIndex& index, const Values& v, const SignalRef& ref) {
  SCOPED_TRACE(FormatSignalId(ref));
  EXPECT_TRUE(ByPdq(index, v).empty());
  EXPECT_TRUE(ByMd5(index, v).empty());
  EXPECT_TRUE(BySha256(index, v).empty());
}

// Adds like Bank and LogReplica do: Add, then one FlushPdq.
void AddAndFlush(SignalIndex& index, const SignalRef& ref, const pb::Entry& entry) {
  SignalIndex::PdqBatch batch;
  ASSERT_TRUE(index.Add(ref, entry, &batch).ok());
  ASSERT_TRUE(index.FlushPdq(batch, false).ok());
}

std::vector<std::string> MatchedLabels(const SignalIndex& index, const Values& v) {
  const std::vector<Match> m = index.MatchPdq(std::span<const Hash256>(&v.pdq, 1), 0);
  return m.size() == 1 ? m[0].labels : std::vector<std::string>{"<not exactly one match>"};
}

// Index updates of label edits run after their durable writes, outside the writers' locks, so they can
// arrive in any order, and before the signal's own Add: the newest edit wins every time.
TEST(SignalIndexTest, LabelEditsApplyNewestFirstWhateverOrderTheyArriveIn) {
  std::mt19937_64 rng(77);
  SignalIndex index;
  const SignalRef ref{"node-a", 1};
  const Values v = RandomValues(rng);
  ASSERT_NO_FATAL_FAILURE(AddAndFlush(index, ref, SignalEntry(ref, v)));
  index.SetLabels(ref, {"second"}, 9, false);
  index.SetLabels(ref, {"first"}, 5, false);  // older: overtaken
  EXPECT_EQ(MatchedLabels(index, v), std::vector<std::string>{"second"});
  index.SetLabels(ref, {"third", "third"}, 12, false);  // duplicates count once
  EXPECT_EQ(MatchedLabels(index, v), std::vector<std::string>{"third"});
  const std::vector<std::pair<std::string, size_t>> counts = {{"third", 1}};
  EXPECT_EQ(index.LabelCounts(), counts);

  // Before the Add: kept for it when `early`, the newest of two.
  const SignalRef later{"node-a", 2};
  const Values lv = RandomValues(rng);
  index.SetLabels(later, {"newer"}, 8, true);
  index.SetLabels(later, {"older"}, 6, true);
  ASSERT_NO_FATAL_FAILURE(AddAndFlush(index, later, SignalEntry(later, lv)));
  EXPECT_EQ(MatchedLabels(index, lv), std::vector<std::string>{"newer"});
  index.SetLabels(later, {"older"}, 6, false);
  EXPECT_EQ(MatchedLabels(index, lv), std::vector<std::string>{"newer"});
  // Not `early`: a signal that is not indexed stays as it is added.
  const SignalRef refused{"node-a", 3};
  const Values rv = RandomValues(rng);
  index.SetLabels(refused, {"x"}, 4, false);
  ASSERT_NO_FATAL_FAILURE(AddAndFlush(index, refused, SignalEntry(refused, rv)));
  EXPECT_EQ(MatchedLabels(index, rv), std::vector<std::string>{"ndii"});
}

TEST(SignalIndexTest, RemoveBeforeAddKeepsTheSignalOut) {
  std::mt19937_64 rng(4242);
  SignalIndex index;

  // Removed before its origin or it was ever indexed, then added: stays out.
  const SignalRef early{"origin-b", 3};
  const Values early_v = RandomValues(rng);
  const pb::Entry early_entry = SignalEntry(early, early_v);
  index.Remove(early, early_entry.signal());
  ASSERT_NO_FATAL_FAILURE(AddAndFlush(index, early, early_entry));
  ExpectNotIndexed(index, early_v, early);
  EXPECT_EQ(index.Stats().signals, 0u);
  EXPECT_EQ(index.Stats().pdq, 0u);
  EXPECT_EQ(index.Stats().exact, 0u);

  // A control signal of the same origin, added normally: matches by every value.
  const SignalRef control{"origin-b", 1};
  const Values control_v = RandomValues(rng);
  ASSERT_NO_FATAL_FAILURE(AddAndFlush(index, control, SignalEntry(control, control_v)));
  ExpectIndexedAs(index, control_v, control);
  EXPECT_EQ(index.Stats().signals, 1u);
  EXPECT_EQ(index.Stats().pdq, 1u);
  EXPECT_EQ(index.Stats().exact, 2u);

  // Removed early once its origin is known (a later sequence than anything indexed), then added: stays out
  // too, and the control is untouched.
  const SignalRef early2{"origin-b", 10};
  const Values early2_v = RandomValues(rng);
  const pb::Entry early2_entry = SignalEntry(early2, early2_v);
  index.Remove(early2, early2_entry.signal());
  ASSERT_NO_FATAL_FAILURE(AddAndFlush(index, early2, early2_entry));
  ExpectNotIndexed(index, early2_v, early2);
  ExpectNotIndexed(index, early_v, early);
  ExpectIndexedAs(index, control_v, control);
  EXPECT_EQ(index.Stats().signals, 1u);

  // The early removal concerned that one ref only: another signal of the origin is added as usual.
  const SignalRef later{"origin-b", 2};
  const Values later_v = RandomValues(rng);
  const pb::Entry later_entry = SignalEntry(later, later_v);
  ASSERT_NO_FATAL_FAILURE(AddAndFlush(index, later, later_entry));
  ExpectIndexedAs(index, later_v, later);
  EXPECT_EQ(index.Stats().signals, 2u);

  // Removing after adding removes it.
  index.Remove(later, later_entry.signal());
  ExpectNotIndexed(index, later_v, later);
  ExpectIndexedAs(index, control_v, control);
  EXPECT_EQ(index.Stats().signals, 1u);
  EXPECT_EQ(index.Stats().pdq, 1u);
  EXPECT_EQ(index.Stats().exact, 2u);
}

// Add registers the signal and collects its PDQ posting; FlushPdq inserts the posting later (Bank::IndexAppended
// and LogReplica::Apply call Add for every entry, then FlushPdq once). A Remove between the two — a withdrawal
// that becomes durable while the submitter (or the applier of the segment) is still indexing — must keep the
// posting out: found failing before SignalIndex marked unflushed postings (the withdrawn signal kept matching
// until the next restart while Stats() counted it as gone).
TEST(SignalIndexTest, RemoveBetweenAddAndFlushKeepsTheSignalOut) {
  std::mt19937_64 rng(777);
  SignalIndex index;
  const SignalRef ref{"origin-c", 1};
  const Values v = RandomValues(rng);
  const pb::Entry entry = SignalEntry(ref, v);

  SignalIndex::PdqBatch batch;
  ASSERT_TRUE(index.Add(ref, entry, &batch).ok());
  index.Remove(ref, entry.signal());  // the withdrawal, between the submitter's Add and its FlushPdq
  ASSERT_TRUE(index.FlushPdq(batch, false).ok());

  EXPECT_EQ(index.Stats().signals, 0u);
  ExpectNotIndexed(index, v, ref);  // fails today: MatchPdq returns origin-c:1
  EXPECT_EQ(index.Stats().pdq, 0u);  // fails today: 1
}

// A peer's model fingerprint that this code would never publish (a NaN or out-of-range threshold, a bad id, no
// dimension, another metric) claims nothing; the first usable one of the id is the model's, and later ones change nothing.
TEST(SignalIndexTest, OnlyAUsableModelFingerprintClaimsItsId) {
  SignalIndex index;
  SignalIndex::PdqBatch batch;
  const std::string id(64, 'c');
  auto model_entry = [&](float threshold, uint32_t dimension, const std::string& model_id) {
    pb::Entry e;
    pb::ModelFingerprint* m = e.mutable_model();
    m->set_model_id(model_id);
    m->set_name("m");
    m->set_dimension(dimension);
    m->set_threshold(threshold);
    m->set_input_width(224);
    m->set_metric("cosine");
    return e;
  };
  uint64_t sequence = 0;
  for (const pb::Entry& bad : {model_entry(std::nanf(""), 8, id), model_entry(1.5f, 8, id), model_entry(-2.0f, 8, id),
                               model_entry(0.9f, 0, id), model_entry(0.9f, 5000, id), model_entry(0.9f, 8, "ABC")}) {
    ASSERT_TRUE(index.Add(SignalRef{"peer", ++sequence}, bad, &batch).ok());
  }
  pb::Entry euclidean = model_entry(0.9f, 8, id);
  euclidean.mutable_model()->set_metric("l2");
  ASSERT_TRUE(index.Add(SignalRef{"peer", ++sequence}, euclidean, &batch).ok());
  EXPECT_FALSE(index.Model(id).has_value());
  EXPECT_FALSE(index.ModelDimension(id).has_value());
  ASSERT_TRUE(index.Add(SignalRef{"peer", ++sequence}, model_entry(0.95f, 8, id), &batch).ok());
  ASSERT_TRUE(index.Add(SignalRef{"peer", ++sequence}, model_entry(0.5f, 16, id), &batch).ok());
  ASSERT_TRUE(index.Model(id).has_value());
  EXPECT_EQ(index.Model(id)->dimension(), 8u);
  EXPECT_FLOAT_EQ(index.Model(id)->threshold(), 0.95f);
  EXPECT_EQ(index.Model(id)->input_width(), 224u) << "the whole fingerprint is kept";
}

}  // namespace
}  // namespace hashbank
