#include "node/cli/hash_command.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/json.hpp>

#include "absl/strings/escaping.h"
#include "hashing/image_hasher.h"
#include "hashing/robust_fingerprint.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;

struct WorkItem {
  std::string path;  // as printed; "-" for stdin
  bool is_stdin = false;
  std::optional<absl::Status> listing_error;  // set when the path could not be listed or opened
};

// Expands the command line into files: directories are walked recursively, their files sorted by path so
// the output order does not depend on the filesystem.
std::vector<WorkItem> ExpandPaths(const std::vector<std::string>& paths) {
  std::vector<WorkItem> items;
  for (const std::string& arg : paths) {
    if (arg == "-") {
      items.push_back({arg, true, std::nullopt});
      continue;
    }
    std::error_code ec;
    const fs::file_status status = fs::status(arg, ec);
    if (ec || !fs::is_directory(status)) {
      items.push_back({arg, false, std::nullopt});  // ImageHasher::HashFile reports what is wrong with it
      continue;
    }
    std::vector<std::string> files;
    fs::recursive_directory_iterator it(arg, fs::directory_options::skip_permission_denied, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      std::error_code type_ec;
      if (it->is_regular_file(type_ec)) files.push_back(it->path().string());
    }
    if (ec) {
      items.push_back({arg, false, absl::UnavailableError("cannot list directory: " + ec.message())});
    }
    std::sort(files.begin(), files.end());
    for (std::string& f : files) items.push_back({std::move(f), false, std::nullopt});
  }
  return items;
}

std::string DigestHex(std::span<const uint8_t> d) { return BytesToHex(d.data(), d.size()); }

std::string FormatLine(const HashCommandOptions& options, const std::string& path, const ImageHashes& h) {
  if (options.json) {
    boost::json::object o;
    o["path"] = path;
    o["pdq"] = h.pdq.ToHex();
    o["quality"] = h.quality;
    o["md5"] = DigestHex(h.exact.md5);
    o["sha256"] = DigestHex(h.exact.sha256);
    o["width"] = h.width;
    o["height"] = h.height;
    o["format"] = std::string(ImageFormatName(h.format));
    // The robust fingerprint in exactly the shape POST /v1/signals accepts (absent for flat or tiny images).
    if (std::optional<std::string> robust = BankableRobust(h.features, h.width, h.height)) {
      o["robust"] = absl::Base64Escape(*robust);
    }
    if (h.dihedral) {
      boost::json::object d;
      for (int i = 0; i < kNumDihedral; ++i) {
        d[DihedralName(static_cast<Dihedral>(i))] = (*h.dihedral)[static_cast<size_t>(i)].ToHex();
      }
      o["dihedral"] = std::move(d);
    }
    return boost::json::serialize(o);
  }
  std::string line;
  if (h.dihedral) {
    for (const Hash256& d : *h.dihedral) {
      line += d.ToHex();
      line += ',';
    }
  } else {
    line = h.pdq.ToHex() + ",";
  }
  line += std::to_string(h.quality);
  line += ',';
  line += path;
  return line;
}

struct Slot {
  bool done = false;
  std::string line;   // on success
  std::string error;  // on failure
};

}  // namespace

int RunHashCommand(const HashCommandOptions& options, std::ostream& out, std::ostream& err) {
  std::vector<WorkItem> items = ExpandPaths(options.paths);
  std::vector<Slot> slots(items.size());
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<size_t> next{0};

  auto worker = [&] {
    ImageHasher hasher(options.limits);
    const HashOptions hash_options{.dihedral = options.dihedral,
                                   .local_features = options.json ? kRobustBankFeatures : 0};
    std::vector<uint8_t> stdin_bytes;
    for (size_t i = next.fetch_add(1); i < items.size(); i = next.fetch_add(1)) {
      const WorkItem& item = items[i];
      absl::StatusOr<ImageHashes> result = absl::UnknownError("not hashed");
      if (item.listing_error) {
        result = *item.listing_error;
      } else if (item.is_stdin) {
        absl::Status read = ReadAllBounded(STDIN_FILENO, options.limits.max_file_bytes, &stdin_bytes);
        result = read.ok() ? hasher.HashBytes(stdin_bytes, hash_options) : absl::StatusOr<ImageHashes>(read);
      } else {
        result = hasher.HashFile(item.path, hash_options);
      }
      Slot filled;
      filled.done = true;
      if (result.ok()) {
        filled.line = FormatLine(options, item.path, *result);
      } else {
        filled.error = std::string(result.status().message());
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        slots[i] = std::move(filled);
      }
      cv.notify_all();
    }
  };

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t jobs = std::min<size_t>(items.size(), options.jobs > 0 ? static_cast<size_t>(options.jobs) : cores);
  std::vector<std::thread> threads;
  threads.reserve(jobs);
  for (size_t t = 0; t < jobs; ++t) threads.emplace_back(worker);

  // Print in input order as results arrive.
  bool any_failed = false;
  for (size_t i = 0; i < slots.size(); ++i) {
    Slot slot;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return slots[i].done; });
      slot = std::move(slots[i]);
    }
    if (slot.error.empty()) {
      out << slot.line << '\n';
    } else {
      any_failed = true;
      err << "hashbank hash: " << items[i].path << ": " << slot.error << '\n';
    }
  }
  for (std::thread& t : threads) t.join();
  out.flush();
  return any_failed ? 1 : 0;
}

}  // namespace hashbank
