// ImportPipeline (a stopped node's import with two batches in flight) against ImportStep batch by batch and
// against a plain model of what an import means: duplicates of the batches still being written or indexed,
// withdrawals of hashes banked one batch before, rejects with their record numbers, the progress row, and
// every banked hash in the index once Finish returns.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "node/import_pipeline.h"
#include "node/import_step.h"
#include "tests/node/bank_test_util.h"

namespace hashbank {
namespace {

using node_test::BankHarness;
using node_test::kAdmin;

constexpr char kKey[] = "0123456789abcdef0123456789abcdef";
constexpr char kBankName[] = "BULK";

struct Rec {
  Hash256 pdq;
  bool withdraw = false;
  bool bad_label = false;  // refused by the bank's validation: a reject
};

ImportRecord ToRecord(const Rec& r, uint64_t number) {
  ImportRecord rec;
  rec.number = number;
  rec.withdraw = r.withdraw;
  rec.input.pdq = r.pdq;
  rec.input.quality = 100;
  rec.input.bank = kBankName;
  rec.input.labels = {r.bad_label ? "Not A Label" : "ndii"};
  return rec;
}

// Batches of 50 with every case the pipeline has to get right: a repeat within the batch, of the batch just
// before (in flight, being written), of the batch two before (being indexed), and of an older one; an
// invalid record; a withdrawal of a hash banked in the batch just before; a withdrawn hash banked again.
std::vector<std::vector<Rec>> MakeBatches() {
  std::mt19937_64 rng(5);
  auto fresh = [&rng] {
    Hash256 h;
    for (auto& limb : h.limbs) limb = rng();
    return h;
  };
  std::vector<std::vector<Rec>> batches;
  for (int b = 0; b < 12; ++b) {
    std::vector<Rec> batch;
    for (int i = 0; i < 44; ++i) batch.push_back({fresh()});
    batch.push_back({batch[3].pdq});                                                // within the batch
    if (b >= 1) batch.push_back({batches[static_cast<size_t>(b - 1)][7].pdq});      // being written
    if (b >= 2) batch.push_back({batches[static_cast<size_t>(b - 2)][9].pdq});      // being indexed
    if (b >= 4) batch.push_back({batches[static_cast<size_t>(b - 4)][11].pdq});     // long indexed
    batch.push_back({fresh(), false, true});                                       // a reject
    if (b == 6 || b == 9) batch.push_back({batches[static_cast<size_t>(b - 1)][20].pdq, true});  // withdrawn
    if (b == 8) batch.push_back({batches[5][20].pdq});  // withdrawn in batch 6, banked again
    batches.push_back(std::move(batch));
  }
  return batches;
}

struct Totals {
  uint64_t imported = 0, duplicates = 0, withdrawn = 0;
  std::set<uint64_t> rejected;
  void Add(const ImportStepResult& r) {
    imported += r.imported;
    duplicates += r.duplicates;
    withdrawn += r.withdrawn;
    for (const ImportReject& x : r.rejects) rejected.insert(x.number);
  }
};

// What the import means, record by record: a withdrawal removes a banked hash; a banked hash again is a
// duplicate; an invalid record is a reject; anything else is banked.
Totals Model(const std::vector<std::vector<Rec>>& batches, std::set<Hash256>* banked) {
  Totals t;
  uint64_t number = 0;
  for (const auto& batch : batches) {
    for (const Rec& r : batch) {
      ++number;
      if (r.withdraw) {
        t.withdrawn += banked->erase(r.pdq);
      } else if (banked->contains(r.pdq)) {
        ++t.duplicates;
      } else if (r.bad_label) {
        t.rejected.insert(number);
      } else {
        banked->insert(r.pdq);
        ++t.imported;
      }
    }
  }
  return t;
}

class ImportPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (BankHarness* h : {&step_, &pipe_}) {
      BankConfig c;
      c.name = kBankName;
      ASSERT_TRUE(h->bank->CreateBank(c, kAdmin).ok());
    }
  }
  BankHarness step_, pipe_;
};

TEST_F(ImportPipelineTest, BanksWhatTheImportMeansAsBatchByBatchStepsDo) {
  const auto batches = MakeBatches();
  std::set<Hash256> banked;
  const Totals model = Model(batches, &banked);
  ASSERT_GT(model.withdrawn, 1u);  // the data exercises every case
  ASSERT_GT(model.duplicates, 30u);
  ASSERT_EQ(model.rejected.size(), batches.size());

  Totals stepped, piped;
  uint64_t from = 0, number = 0;
  {
    ImportPipeline pipeline(*pipe_.bank, kBankName, kKey, kAdmin);
    for (const auto& batch : batches) {
      std::vector<ImportRecord> a, b;
      for (const Rec& r : batch) {
        ++number;
        a.push_back(ToRecord(r, number));
        b.push_back(ToRecord(r, number));
      }
      auto s = ImportStep(*step_.bank, kBankName, kKey, from, number, std::move(a), kAdmin);
      ASSERT_TRUE(s.ok()) << s.status();
      stepped.Add(*s);
      auto p = pipeline.Push(from, number, std::move(b));
      ASSERT_TRUE(p.ok()) << p.status();
      piped.Add(*p);
      from = number;
    }
    auto last = pipeline.Finish();
    ASSERT_TRUE(last.ok()) << last.status();
    piped.Add(*last);
  }
  for (const Totals* t : {&stepped, &piped}) {
    EXPECT_EQ(t->imported, model.imported);
    EXPECT_EQ(t->duplicates, model.duplicates);
    EXPECT_EQ(t->withdrawn, model.withdrawn);
    EXPECT_EQ(t->rejected, model.rejected);
  }
  // Every hash the model holds banked is in the index once, the withdrawn ones not at all.
  for (const auto& batch : batches) {
    for (const Rec& r : batch) {
      const size_t want = banked.contains(r.pdq) ? 1 : 0;
      EXPECT_EQ(node_test::PdqMatches(*pipe_.bank, r.pdq).size(), want);
      EXPECT_EQ(node_test::PdqMatches(*step_.bank, r.pdq).size(), want);
    }
  }
  auto progress = ReadImportProgress(*pipe_.bank, kKey);
  ASSERT_TRUE(progress.ok());
  EXPECT_EQ(*progress, number);
  // And after a restart: the index rebuilt from the store holds the same.
  pipe_.Reopen();
  for (const Hash256& h : banked) EXPECT_EQ(node_test::PdqMatches(*pipe_.bank, h).size(), 1u);
}

TEST_F(ImportPipelineTest, AFirstBatchThatDoesNotContinueTheRecordedProgressIsRefused) {
  const auto batches = MakeBatches();
  auto records = [&](size_t b, uint64_t first) {
    std::vector<ImportRecord> out;
    for (const Rec& r : batches[b]) out.push_back(ToRecord(r, ++first));
    return out;
  };
  const uint64_t n0 = batches[0].size();
  {
    ImportPipeline pipeline(*pipe_.bank, kBankName, kKey, kAdmin);
    ASSERT_TRUE(pipeline.Push(0, n0, records(0, 0)).ok());
    // A batch that skips records is refused.
    EXPECT_TRUE(absl::IsInvalidArgument(pipeline.Push(n0 + 5, n0 + 10, records(1, n0)).status()));
    ASSERT_TRUE(pipeline.Finish().ok());
  }
  {
    ImportPipeline again(*pipe_.bank, kBankName, kKey, kAdmin);
    EXPECT_TRUE(absl::IsAborted(again.Push(0, n0, records(0, 0)).status()));  // batch 0 is recorded already
  }
  ImportPipeline resumed(*pipe_.bank, kBankName, kKey, kAdmin);
  auto r = resumed.Push(n0, n0 + batches[1].size(), records(1, n0));
  ASSERT_TRUE(r.ok()) << r.status();
  auto last = resumed.Finish();
  ASSERT_TRUE(last.ok());
  EXPECT_GT(last->imported, 40u);
}

}  // namespace
}  // namespace hashbank
