// robust_eval: recall and false matches of PDQ (with query dihedrals), the robust fingerprint, and both, on an
// acceptance set made by tools/acceptance/make_edits.py. Every query is verified against every banked image
// (no index), so the numbers are the fingerprint's own, not the index's.
//
//   build/bench/robust_eval DIR [tune|holdout|all] [bank_features] [min_inliers] [min_cover] [side] [query]
//                           [edited_features]
//
// `query` "bank": the query is the edited copy's own banked fingerprint (no mirror) verified with the original
// as the banked side (what retroactive matching of a watched upload does); "watch": the same two fingerprints
// the other way round (the edited copy as the banked side); "bank+mirror": "bank" and the fingerprint of the
// edited copy's mirror image too (a client that hashes the flipped image as well). `edited_features`: the edited copy's feature
// count in those modes (default bank_features).
//
// Banked: the set's originals and its unrelated images. Queries: edited copies, unrelated images and the
// originals. A pair is true when the query is an edit of the banked original; every other pair is unrelated.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "hashing/image_hasher.h"
#include "hashing/robust_fingerprint.h"
#include "matcher/robust_verify.h"

using namespace hashbank;

namespace {

struct Item {
  std::string set, kind, file, source, edit;
  ImageHashes hashes;
  RobustFingerprint bank;  // through EncodeRobust/DecodeRobust: exactly what is stored
  RobustFingerprint edited_bank;  // an edited copy's own fingerprint (query modes "bank", "watch")
  std::vector<LocalFeature> edited_mirrored;  // and of its mirror image (query mode "bank+mirror")
  bool ok = false;
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: robust_eval DIR [tune|holdout|all] [bank_features] [min_inliers]\n";
    return 2;
  }
  const std::string dir = argv[1];
  const std::string want = argc > 2 ? argv[2] : "all";
  const int bank_features = argc > 3 ? std::stoi(argv[3]) : kRobustBankFeatures;
  RobustParams params;
  if (argc > 4) params.min_inliers = std::stoi(argv[4]);
  if (argc > 5) params.min_image_cover = std::stod(argv[5]);
  const int query_side = argc > 6 ? std::stoi(argv[6]) : kLocalFeatureSide;
  const std::string query_mode = argc > 7 ? argv[7] : "features";
  const int edited_features = argc > 8 ? std::stoi(argv[8]) : bank_features;  // query modes bank, watch
  if (query_mode != "features" && query_mode != "bank" && query_mode != "bank+mirror" && query_mode != "watch") {
    std::cerr << "query: features, bank, bank+mirror or watch\n";
    return 2;
  }
  std::vector<double> true_cover, false_cover;  // image cover of verified pairs (hull rule passed)
  constexpr int kQualityFloor = 50;
  constexpr int kPdqRadius = 31;

  std::ifstream manifest(dir + "/manifest.tsv");
  if (!manifest) {
    std::cerr << "cannot read " << dir << "/manifest.tsv\n";
    return 1;
  }
  std::vector<Item> items;
  std::string line;
  while (std::getline(manifest, line)) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) cols.push_back(col);
    while (cols.size() < 5) cols.emplace_back();
    if (cols[0] == "set") continue;
    if (want != "all" && cols[0] != want) continue;
    items.push_back({cols[0], cols[1], cols[2], cols[3], cols[4], {}, {}, {}, {}, false});
  }
  ImageHasher hasher;
  double bank_seconds = 0, query_seconds = 0;
  int banked_count = 0, query_count = 0;
  for (Item& item : items) {
    const auto t0 = std::chrono::steady_clock::now();
    auto q = hasher.HashFile(dir + "/" + item.file, HashOptions{.dihedral = true,
                                                                  .local_features = kRobustQueryFeatures,
                                                                  .mirrored_features = true,
                                                                  .local_feature_side = query_side});
    query_seconds += Seconds(t0);
    ++query_count;
    if (!q.ok()) {
      std::cerr << item.file << ": " << q.status() << "\n";
      continue;
    }
    item.hashes = *std::move(q);
    if (item.kind != "edited" || query_mode != "features") {
      const auto t1 = std::chrono::steady_clock::now();
      const int n = item.kind == "edited" ? edited_features : bank_features;
      auto b = hasher.HashFile(dir + "/" + item.file,
                               HashOptions{.local_features = n, .mirrored_features = query_mode == "bank+mirror"});
      if (b.ok()) item.edited_mirrored = b->mirrored_features;
      bank_seconds += Seconds(t1);
      ++banked_count;
      if (b.ok() && !b->features.empty()) {
        auto bytes = EncodeRobust(b->features, b->width, b->height);
        if (bytes.ok()) item.bank = *DecodeRobustFingerprint(*bytes);
      }
      item.edited_bank = item.bank;
      if (item.kind == "edited") item.bank = {};
    }
    item.ok = true;
  }

  struct Tally {
    int n = 0, pdq = 0, robust = 0, either = 0;
  };
  std::map<std::string, Tally> by_edit;
  Tally total;
  long unrelated_pairs = 0, fp_pdq = 0, fp_robust = 0;
  int max_unrelated_inliers = 0;
  double verify_seconds = 0;
  long verifications = 0;
  std::map<int, long> inlier_histogram;  // unrelated pairs by inlier count
  for (const Item& query : items) {
    if (!query.ok) continue;
    for (const Item& banked : items) {
      if (!banked.ok || banked.kind == "edited" || &banked == &query) continue;
      const bool is_true = query.kind == "edited" && query.source == banked.file;
      // PDQ: any query dihedral within the radius, both above the quality floor.
      bool pdq = false;
      if (query.hashes.quality >= kQualityFloor && banked.hashes.quality >= kQualityFloor) {
        for (const Hash256& h : *query.hashes.dihedral) {
          if (HammingDistance(h, banked.hashes.pdq) <= kPdqRadius) pdq = true;
        }
      }
      const auto t0 = std::chrono::steady_clock::now();
      RobustVerdict direct, mirrored;
      if (query_mode == "bank" || query_mode == "bank+mirror") {
        direct = VerifyRobust(banked.bank, query.edited_bank.features, params);
        if (query_mode == "bank+mirror") mirrored = VerifyRobust(banked.bank, query.edited_mirrored, params);
      } else if (query_mode == "watch") {
        direct = VerifyRobust(query.edited_bank, banked.bank.features, params);
      } else {
        direct = VerifyRobust(banked.bank, query.hashes.features, params);
        mirrored = VerifyRobust(banked.bank, query.hashes.mirrored_features, params);
      }
      verify_seconds += Seconds(t0);
      verifications += 2;
      const bool robust = direct.match || mirrored.match;
      {
        RobustParams loose = params;
        loose.min_image_cover = 0;
        const RobustVerdict& v = direct.inliers >= mirrored.inliers ? direct : mirrored;
        if (v.inliers >= loose.min_inliers && v.hull >= loose.min_hull) {
          (is_true ? true_cover : false_cover).push_back(v.image_cover);
        }
      }
      if (is_true) {
        Tally& t = by_edit[query.edit];
        ++t.n, ++total.n;
        t.pdq += pdq, total.pdq += pdq;
        t.robust += robust, total.robust += robust;
        t.either += pdq || robust, total.either += pdq || robust;
        if (!robust && !pdq) {
          std::printf("miss %-50s inliers %d/%d hull %.2f corr %d/%d features %zu/%zu\n", query.file.c_str(),
                      direct.inliers, mirrored.inliers, std::max(direct.hull, mirrored.hull), direct.correspondences,
                      mirrored.correspondences, banked.bank.features.size(), query.hashes.features.size());
        }
      } else if (query.kind != "edited" || query.source != banked.file) {
        ++unrelated_pairs;
        fp_pdq += pdq;
        fp_robust += robust;
        const int inl = std::max(direct.inliers, mirrored.inliers);
        ++inlier_histogram[inl];
        max_unrelated_inliers = std::max(max_unrelated_inliers, inl);
        if (robust) {
          std::printf("FALSE MATCH %s vs %s inliers %d/%d hull %.2f/%.2f\n", query.file.c_str(),
                      banked.file.c_str(), direct.inliers, mirrored.inliers, direct.hull, mirrored.hull);
        }
        if (pdq) std::printf("FALSE PDQ MATCH %s vs %s\n", query.file.c_str(), banked.file.c_str());
      }
    }
  }
  std::printf("\nset %s, %d banked features, min inliers %d, query %s\n", want.c_str(), bank_features,
              params.min_inliers, query_mode.c_str());
  std::printf("%-14s %5s %12s %12s %12s\n", "edit", "n", "pdq", "robust", "both");
  auto row = [](const std::string& name, const Tally& t) {
    auto pct = [&t](int v) { return t.n ? 100.0 * v / t.n : 0.0; };
    std::printf("%-14s %5d %5d %5.1f%% %5d %5.1f%% %5d %5.1f%%\n", name.c_str(), t.n, t.pdq, pct(t.pdq), t.robust,
                pct(t.robust), t.either, pct(t.either));
  };
  for (const auto& [edit, t] : by_edit) row(edit, t);
  row("all", total);
  std::printf("unrelated pairs %ld: false matches pdq %ld, robust %ld; max inliers %d\n", unrelated_pairs, fp_pdq,
              fp_robust, max_unrelated_inliers);
  std::sort(true_cover.begin(), true_cover.end());
  std::sort(false_cover.begin(), false_cover.end());
  std::printf("image cover of true verified pairs: min %.3f p1 %.3f p5 %.3f median %.3f; of unrelated: ",
              true_cover.empty() ? 0 : true_cover.front(), true_cover.empty() ? 0 : true_cover[true_cover.size() / 100],
              true_cover.empty() ? 0 : true_cover[true_cover.size() / 20],
              true_cover.empty() ? 0 : true_cover[true_cover.size() / 2]);
  for (double c : false_cover) std::printf(" %.3f", c);
  std::printf("\n");
  std::printf("unrelated pairs by inliers:");
  for (const auto& [k, v] : inlier_histogram) std::printf(" %d:%ld", k, v);
  std::printf("\nper image: query hashing (decode, PDQ x8, 2 x %d features) %.1f ms, bank hashing (%d features) "
              "%.1f ms; verification %.3f ms per pair and orientation\n",
              kRobustQueryFeatures, 1000 * query_seconds / std::max(1, query_count), bank_features,
              1000 * bank_seconds / std::max(1, banked_count), 1000 * verify_seconds / static_cast<double>(std::max(1L, verifications)));
  return 0;
}
