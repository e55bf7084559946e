// The import formats on small files written here: what each line becomes, what is rejected and why (with its
// line or record number), resuming with Skip, and format detection.
#include <gtest/gtest.h>

#include <fstream>

#include "node/import_formats.h"
#include "tests/support/temp_dir.h"

namespace hashbank {
namespace {

constexpr char kPdq[] = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
constexpr char kMd5[] = "cab08b36195edb1a1231d2d09fa450e0";

ImportOptions Options(ImportFormat format, std::string bank = "", std::vector<std::string> labels = {}) {
  ImportOptions o;
  o.format = format;
  o.bank = std::move(bank);
  o.labels = std::move(labels);
  return o;
}

struct Read {
  std::vector<ImportRecord> records;
  std::vector<ImportReject> rejects;
  ImportFormat format = ImportFormat::kAuto;
};

Read ReadAll(const std::string& content, ImportOptions options = {}, uint64_t skip = 0) {
  testing::TempDir dir("hashbank-import");
  const std::string path = dir.File("list");
  std::ofstream(path) << content;
  auto reader = ImportReader::Open(path, options);
  EXPECT_TRUE(reader.ok()) << reader.status();
  Read r;
  if (!reader.ok()) return r;
  (*reader)->Skip(skip);
  while ((*reader)->Next(2, &r.records, &r.rejects)) {
  }
  r.format = (*reader)->format();
  return r;
}

TEST(ImportFormatsTest, LinesTakePdqOrMd5ByLengthAndRejectTheRest) {
  const Read r = ReadAll(absl::StrCat("# a comment\n", kPdq, "\n\n", kMd5, "\nnot-a-hash\n", "F8F8F0CEE0F4A84F06370A22038F63F0B36E2ED596621E1D33E6B39C4E9C9B22\n"),
                         Options(ImportFormat::kAuto, "B", {"ndii"}));
  EXPECT_EQ(r.format, ImportFormat::kLines);
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_EQ(r.records[0].number, 2u);
  EXPECT_EQ(r.records[0].input.pdq->ToHex(), kPdq);
  EXPECT_TRUE(r.records[0].input.pdq_quality_unknown);
  EXPECT_EQ(r.records[0].input.bank, "B");
  EXPECT_EQ(r.records[0].input.labels, std::vector<std::string>{"ndii"});
  EXPECT_EQ(r.records[1].number, 4u);
  EXPECT_TRUE(r.records[1].input.md5.has_value());
  EXPECT_EQ(r.records[2].input.pdq->ToHex(), kPdq);  // upper case accepted
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].number, 5u);
}

// `hashbank hash` quotes a path with a comma or quote (RFC 4180); the importer reads it back as one field.
TEST(ImportFormatsTest, PdqToolOutputUnquotesAQuotedPath) {
  const Read r = ReadAll(absl::StrCat(kPdq, ",90,\"a,b \"\"c\"\".jpg\"\n", kPdq, ",90,\"open.jpg\n"), Options(ImportFormat::kPdq));
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].input.content_id, "a,b \"c\".jpg");
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.rejects[0].number, 2u);
}

TEST(ImportFormatsTest, PdqToolOutputKeepsQualityAndPath) {
  const Read r = ReadAll(absl::StrCat(kPdq, ",87,images/a.jpg\n", kPdq, ",101,b.jpg\n", kPdq, "\n"), Options(ImportFormat::kPdq));
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].input.quality, 87);
  EXPECT_FALSE(r.records[0].input.pdq_quality_unknown);
  EXPECT_EQ(r.records[0].input.content_id, "images/a.jpg");
  ASSERT_EQ(r.rejects.size(), 2u);
  EXPECT_EQ(r.rejects[0].number, 2u);
  EXPECT_EQ(r.rejects[1].number, 3u);
}

TEST(ImportFormatsTest, ThreatExchangeCsvMapsTypesTagsAndCategory) {
  const Read r = ReadAll(absl::StrCat("signal_type,signal_str,collab,category,tags\n",
                                      "pdq,", kPdq, ",Sample,NON_CONSENSUAL,\"ndii sextortion\"\n",
                                      "video_md5,", kMd5, ",Sample,,\n",
                                      "url,https://x,Sample,,\n",
                                      "pdq,zz,Sample,,\n"));
  EXPECT_EQ(r.format, ImportFormat::kTeCsv);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].input.labels, (std::vector<std::string>{"ndii", "sextortion", "non_consensual"}));
  EXPECT_TRUE(r.records[1].input.md5.has_value());
  ASSERT_EQ(r.rejects.size(), 2u);
  EXPECT_EQ(r.rejects[0].number, 4u);
  EXPECT_EQ(r.rejects[1].number, 5u);
  // A CSV without the needed header is refused whole.
  testing::TempDir dir("hashbank-import");
  const std::string path = dir.File("bad.csv");
  std::ofstream(path) << "a,b\n1,2\n";
  EXPECT_FALSE(ImportReader::Open(path, Options(ImportFormat::kTeCsv)).ok());
}

TEST(ImportFormatsTest, StopNciiPagesGiveSignalsWithdrawalsAndRejects) {
  const std::string page1 = absl::StrCat(
      R"({"count": 3, "nextPageToken": "x", "nextSetTimestamp": 1625175071, "hasMoreRecords": true, "hashRecords": [)",
      R"({"lastModtimestamp": 1, "hashValue": ")", kPdq, R"(", "hashStatus": "Active", "caseNumbers": {"case-1": "Active"}, "signalType": "ImagePDQ"},)",
      R"({"lastModtimestamp": 1, "hashValue": ")", kMd5, R"(", "hashStatus": "Received", "caseNumbers": {}, "signalType": "VideoMD5"},)",
      R"({"lastModtimestamp": 1, "hashValue": "abc", "hashStatus": "Active", "caseNumbers": {}, "signalType": "VideoTMK"}]})");
  const std::string page2 = absl::StrCat(
      R"({"count": 1, "nextSetTimestamp": 1625175072, "hasMoreRecords": false, "hashRecords": [)",
      R"({"lastModtimestamp": 2, "hashValue": ")", kPdq, R"(", "hashStatus": "Withdrawn", "caseNumbers": {"case-1": "Withdrawn"}, "signalType": "ImagePDQ"}]})");
  for (const std::string& file : {page1 + "\n" + page2 + "\n", "[" + page1 + "," + page2 + "]"}) {
    const Read r = ReadAll(file);
    EXPECT_EQ(r.format, ImportFormat::kStopNcii);
    ASSERT_EQ(r.records.size(), 3u);
    EXPECT_FALSE(r.records[0].withdraw);
    EXPECT_EQ(r.records[0].input.case_ref, "case-1");
    EXPECT_TRUE(r.records[1].input.md5.has_value());
    EXPECT_TRUE(r.records[2].withdraw);
    EXPECT_EQ(r.records[2].number, 4u);
    ASSERT_EQ(r.rejects.size(), 1u);
    EXPECT_EQ(r.rejects[0].number, 3u);
  }
}

TEST(ImportFormatsTest, SkipResumesAfterTheConsumedRecords) {
  std::string lines;
  for (int i = 0; i < 10; ++i) lines += std::string(kPdq) + "\n";
  EXPECT_EQ(ReadAll(lines, {}, 7).records.size(), 3u);
  EXPECT_EQ(ReadAll(lines, {}, 7).records[0].number, 8u);
}

}  // namespace
}  // namespace hashbank
