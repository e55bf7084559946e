#include "matcher/robust_verify.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numbers>
#include <vector>

namespace hashbank {
namespace {

int Hamming(const std::array<uint64_t, 4>& a, const std::array<uint64_t, 4>& b) {
  return std::popcount(a[0] ^ b[0]) + std::popcount(a[1] ^ b[1]) + std::popcount(a[2] ^ b[2]) +
         std::popcount(a[3] ^ b[3]);
}

struct Point {
  double x, y;
};

struct Correspondence {
  Point bank, query;
  int distance;
  size_t query_index;
};

// q = [a -b; b a] p + (tx, ty)
struct Similarity {
  double a = 1, b = 0, tx = 0, ty = 0;
  Point Apply(const Point& p) const { return {a * p.x - b * p.y + tx, b * p.x + a * p.y + ty}; }
  double Scale() const { return std::hypot(a, b); }
};

double Cross(const Point& o, const Point& p, const Point& q) {
  return (p.x - o.x) * (q.y - o.y) - (p.y - o.y) * (q.x - o.x);
}

// Area of the convex hull (Andrew's monotone chain).
double HullArea(std::vector<Point> pts) {
  if (pts.size() < 3) return 0;
  std::sort(pts.begin(), pts.end(), [](const Point& l, const Point& r) { return l.x < r.x || (l.x == r.x && l.y < r.y); });
  std::vector<Point> hull(2 * pts.size());
  size_t k = 0;
  for (const Point& p : pts) {
    while (k >= 2 && Cross(hull[k - 2], hull[k - 1], p) <= 0) --k;
    hull[k++] = p;
  }
  for (size_t i = pts.size() - 1, lower = k + 1; i-- > 0;) {
    while (k >= lower && Cross(hull[k - 2], hull[k - 1], pts[i]) <= 0) --k;
    hull[k++] = pts[i];
  }
  hull.resize(k - 1);
  double area = 0;
  for (size_t i = 0; i < hull.size(); ++i) {
    const Point& p = hull[i];
    const Point& q = hull[(i + 1) % hull.size()];
    area += p.x * q.y - q.x * p.y;
  }
  return std::abs(area) / 2;
}

// Least-squares similarity from correspondences (closed form, centred coordinates).
bool Fit(const std::vector<Correspondence>& cs, const std::vector<size_t>& use, Similarity* out) {
  if (use.size() < 2) return false;
  double mbx = 0, mby = 0, mqx = 0, mqy = 0;
  for (size_t i : use) {
    mbx += cs[i].bank.x;
    mby += cs[i].bank.y;
    mqx += cs[i].query.x;
    mqy += cs[i].query.y;
  }
  const double n = static_cast<double>(use.size());
  mbx /= n, mby /= n, mqx /= n, mqy /= n;
  double sxx = 0, sa = 0, sb = 0;
  for (size_t i : use) {
    const double px = cs[i].bank.x - mbx, py = cs[i].bank.y - mby;
    const double qx = cs[i].query.x - mqx, qy = cs[i].query.y - mqy;
    sxx += px * px + py * py;
    sa += px * qx + py * qy;
    sb += px * qy - py * qx;
  }
  if (sxx <= 0) return false;
  out->a = sa / sxx;
  out->b = sb / sxx;
  out->tx = mqx - (out->a * mbx - out->b * mby);
  out->ty = mqy - (out->b * mbx + out->a * mby);
  return true;
}

std::vector<size_t> Inliers(const std::vector<Correspondence>& cs, const Similarity& s, double tolerance) {
  std::vector<size_t> in;
  const double tol2 = tolerance * tolerance;
  for (size_t i = 0; i < cs.size(); ++i) {
    const Point m = s.Apply(cs[i].bank);
    const double dx = m.x - cs[i].query.x, dy = m.y - cs[i].query.y;
    if (dx * dx + dy * dy <= tol2) in.push_back(i);
  }
  return in;
}

}  // namespace

RobustVerdict VerifyRobust(std::span<const LocalFeature> banked, std::span<const LocalFeature> query,
                           const RobustParams& params) {
  RobustFingerprint fp;
  fp.features.assign(banked.begin(), banked.end());
  return VerifyRobust(fp, query, params);
}

RobustVerdict VerifyRobust(const RobustFingerprint& banked_fp, std::span<const LocalFeature> query,
                           const RobustParams& params) {
  const std::span<const LocalFeature> banked = banked_fp.features;
  RobustVerdict verdict;
  if (banked.size() < 3 || query.size() < 2) return verdict;
  std::vector<Correspondence> all;
  for (const LocalFeature& b : banked) {
    int best = 257, second = 257;
    size_t best_index = 0;
    for (size_t j = 0; j < query.size(); ++j) {
      const int d = Hamming(b.descriptor, query[j].descriptor);
      if (d < best) {
        second = best;
        best = d;
        best_index = j;
      } else if (d < second) {
        second = d;
      }
    }
    if (best > params.max_distance) continue;
    if (best * params.ratio_den >= second * params.ratio_num) continue;
    all.push_back({{static_cast<double>(b.x), static_cast<double>(b.y)},
                   {static_cast<double>(query[best_index].x), static_cast<double>(query[best_index].y)},
                   best,
                   best_index});
  }
  // One-to-one: each query feature keeps its closest banked feature.
  std::stable_sort(all.begin(), all.end(),
                   [](const Correspondence& l, const Correspondence& r) { return l.distance < r.distance; });
  std::vector<Correspondence> cs;
  std::vector<bool> used(query.size(), false);
  for (const Correspondence& c : all) {
    if (used[c.query_index]) continue;
    used[c.query_index] = true;
    cs.push_back(c);
  }
  verdict.correspondences = static_cast<int>(cs.size());
  if (static_cast<int>(cs.size()) < params.min_inliers) return verdict;

  const double min_span = 2 * params.tolerance;
  std::vector<size_t> best_inliers;
  Similarity best_model;
  for (size_t i = 0; i < cs.size(); ++i) {
    for (size_t j = i + 1; j < cs.size(); ++j) {
      const double bx = cs[j].bank.x - cs[i].bank.x, by = cs[j].bank.y - cs[i].bank.y;
      const double qx = cs[j].query.x - cs[i].query.x, qy = cs[j].query.y - cs[i].query.y;
      const double bn = bx * bx + by * by;
      if (bn < min_span * min_span) continue;
      Similarity s;
      s.a = (qx * bx + qy * by) / bn;
      s.b = (qy * bx - qx * by) / bn;
      const double scale = s.Scale();
      if (scale < params.min_scale || scale > params.max_scale) continue;
      s.tx = cs[i].query.x - (s.a * cs[i].bank.x - s.b * cs[i].bank.y);
      s.ty = cs[i].query.y - (s.b * cs[i].bank.x + s.a * cs[i].bank.y);
      std::vector<size_t> in = Inliers(cs, s, params.tolerance);
      if (in.size() > best_inliers.size()) {
        best_inliers = std::move(in);
        best_model = s;
      }
    }
  }
  if (best_inliers.size() >= 3) {
    Similarity refit;
    if (Fit(cs, best_inliers, &refit)) {
      std::vector<size_t> in = Inliers(cs, refit, params.tolerance);
      const double scale = refit.Scale();
      if (in.size() >= best_inliers.size() && scale >= params.min_scale && scale <= params.max_scale) {
        best_inliers = std::move(in);
        best_model = refit;
      }
    }
  }
  verdict.inliers = static_cast<int>(best_inliers.size());
  if (best_inliers.empty()) return verdict;
  verdict.scale = best_model.Scale();
  verdict.rotation_degrees = std::atan2(best_model.b, best_model.a) * 180.0 / std::numbers::pi;
  std::vector<Point> bank_points, inlier_points;
  for (const LocalFeature& b : banked) bank_points.push_back({static_cast<double>(b.x), static_cast<double>(b.y)});
  for (size_t i : best_inliers) inlier_points.push_back(cs[i].bank);
  const double bank_area = HullArea(std::move(bank_points));
  const double inlier_area = HullArea(std::move(inlier_points));
  verdict.hull = bank_area > 0 ? inlier_area / bank_area : 0;
  verdict.image_cover = inlier_area / (static_cast<double>(banked_fp.extent_x) * banked_fp.extent_y);
  verdict.match = verdict.inliers >= params.min_inliers && verdict.hull >= params.min_hull &&
                  verdict.image_cover >= params.min_image_cover;
  return verdict;
}

}  // namespace hashbank
