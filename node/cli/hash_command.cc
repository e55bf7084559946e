#include "node/cli/hash_command.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/json.hpp>

#include "absl/strings/escaping.h"
#include "hashing/image_hasher.h"
#include "hashing/robust_fingerprint.h"
#include "hashing/vpdq.h"
#include "node/api_support.h"

namespace hashbank {
namespace {

namespace fs = std::filesystem;

struct WorkItem {
  std::string path;  // as printed; "-" for stdin
  bool is_stdin = false;
  std::optional<absl::Status> listing_error;  // set when the path could not be listed or opened
};

// The first bytes of a file (at most 512; fewer if it is shorter); nullopt if it cannot be opened.
std::optional<std::vector<uint8_t>> FileHead(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::vector<uint8_t> head(512);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(std::max<std::streamsize>(0, in.gcount())));
  return head;
}

// Whether a file found in a directory is one to hash: a JPEG or PNG (by signature) or a video container the
// decoder takes. Anything else (text, GIF, a .DS_Store) is skipped and counted, not an error.
bool HashableByHead(std::span<const uint8_t> head) {
  auto starts = [&](std::string_view magic) {
    return head.size() >= magic.size() && std::equal(magic.begin(), magic.end(), head.begin(),
                                                     [](char m, uint8_t b) { return static_cast<uint8_t>(m) == b; });
  };
  return starts("\xFF\xD8\xFF") || starts("\x89PNG\r\n\x1A\n") || LooksLikeVideo(head);
}

struct Expanded {
  std::vector<WorkItem> items;
  size_t skipped = 0;         // files found in directories that are neither images nor videos
  std::string first_skipped;  // one of them, to name in the summary
};

// Expands the command line into files: directories are walked recursively, their files sorted by path so
// the output order does not depend on the filesystem. A file named on the command line is always hashed (and
// an error if it cannot be); one found in a directory is hashed only if HashableByHead.
Expanded ExpandPaths(const std::vector<std::string>& paths) {
  Expanded expanded;
  std::vector<WorkItem>& items = expanded.items;
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
    for (std::string& f : files) {
      const std::optional<std::vector<uint8_t>> head = FileHead(f);
      if (!head) {  // unreadable (permissions): an error to report, not a file to skip
        items.push_back({std::move(f), false, absl::PermissionDeniedError("cannot open the file")});
        continue;
      }
      if (!HashableByHead(*head)) {
        if (expanded.skipped++ == 0) expanded.first_skipped = f;
        continue;
      }
      items.push_back({std::move(f), false, std::nullopt});
    }
  }
  return expanded;
}

// A path as one CSV field (RFC 4180): as is, unless it holds a comma, a quote or a line break, then quoted with
// its quotes doubled. Plain paths stay byte for byte the reference tool's output.
std::string CsvField(const std::string& path) {
  if (path.find_first_of(",\"\r\n") == std::string::npos) return path;
  std::string quoted = "\"";
  for (char c : path) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
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
  line += CsvField(path);
  return line;
}

struct Slot {
  bool done = false;
  std::string line;   // on success
  std::string error;  // on failure
};

// Whether the item is a video, by its first bytes (stdin: already read whole).
bool IsVideoInput(const std::string& path, bool is_stdin, const std::vector<uint8_t>& stdin_bytes) {
  if (is_stdin) return LooksLikeVideo(stdin_bytes);
  const std::optional<std::vector<uint8_t>> head = FileHead(path);
  return head && LooksLikeVideo(*head);
}

Slot HashVideoItem(const std::string& path, bool is_stdin, const std::vector<uint8_t>& stdin_bytes,
                   const HashCommandOptions& options, bool several, std::mutex& err_mu, std::ostream& err) {
  Slot slot;
  slot.done = true;
  std::vector<uint8_t> file_bytes;
  if (!is_stdin) {
    if (absl::Status s = ReadFileBounded(path, options.video_limits.max_file_bytes, &file_bytes); !s.ok()) {
      slot.error = std::string(s.message());
      return slot;
    }
  }
  const std::vector<uint8_t>& bytes = is_stdin ? stdin_bytes : file_bytes;
  VideoHasher hasher(options.video_limits);
  std::function<void(double, double)> progress;
  if (options.progress) {
    progress = [&, last = -1](double done, double total) mutable {
      const int percent = total > 0 ? static_cast<int>(std::min(100.0, 100.0 * done / total)) : -1;
      if (percent == last) return;
      last = percent;
      std::lock_guard<std::mutex> lock(err_mu);
      err << "\r" << path << ": " << (percent >= 0 ? std::to_string(percent) + "%" : "") << " (" << static_cast<int>(done)
          << " s of " << static_cast<int>(total) << " s)\x1b[K" << std::flush;
    };
  }
  // --json prints what a node banks, the keyframes' robust fingerprints included (POST /v1/signals takes it).
  const KeyframeOptions keyframes = options.json ? kBankKeyframes : KeyframeOptions{};
  absl::StatusOr<VideoHashes> h =
      hasher.Hash(bytes,
                  VideoDecodeOptions{.seconds_per_frame = options.video_frame_interval,
                                     .decode_every_frame = options.decode_every_frame},
                  progress, {}, keyframes);
  if (options.progress) {
    std::lock_guard<std::mutex> lock(err_mu);
    err << "\r\x1b[K" << std::flush;
  }
  if (!h.ok()) {
    slot.error = std::string(h.status().message());
    return slot;
  }
  if (options.json) {
    boost::json::object o = api::VideoHashesJson(*h);
    o.emplace("path", path);
    slot.line = boost::json::serialize(o);
  } else {
    slot.line = FormatVpdqText(h->frames);
    if (!slot.line.empty()) slot.line.pop_back();  // the caller ends the block with '\n'
    if (several) slot.line = "# " + path + "\n" + slot.line;
  }
  return slot;
}

}  // namespace

int RunHashCommand(const HashCommandOptions& options, std::ostream& out, std::ostream& err) {
  const Expanded expanded = ExpandPaths(options.paths);
  const std::vector<WorkItem>& items = expanded.items;
  std::vector<Slot> slots(items.size());
  std::mutex mu;
  std::mutex err_mu;  // progress lines on `err`
  std::condition_variable cv;
  std::atomic<size_t> next{0};

  auto worker = [&] {
    ImageHasher hasher(options.limits);
    const HashOptions hash_options{.dihedral = options.dihedral,
                                   .local_features = options.json ? kRobustBankFeatures : 0};
    std::vector<uint8_t> stdin_bytes;
    for (size_t i = next.fetch_add(1); i < items.size(); i = next.fetch_add(1)) {
      const WorkItem& item = items[i];
      absl::Status stdin_read = absl::OkStatus();
      if (item.is_stdin && !item.listing_error) {
        // Read whole once, bounded by the larger of the image and video limits (the image decoder refuses an
        // image over its own); which it is comes after.
        stdin_read = ReadAllBounded(STDIN_FILENO, std::max(options.limits.max_file_bytes, options.video_limits.max_file_bytes),
                                    &stdin_bytes);
      }
      Slot filled;
      if (!item.listing_error && stdin_read.ok() && IsVideoInput(item.path, item.is_stdin, stdin_bytes)) {
        filled = HashVideoItem(item.path, item.is_stdin, stdin_bytes, options, items.size() > 1, err_mu, err);
      } else {
        absl::StatusOr<ImageHashes> result = item.listing_error ? absl::StatusOr<ImageHashes>(*item.listing_error)
                                             : !stdin_read.ok()  ? absl::StatusOr<ImageHashes>(stdin_read)
                                             : item.is_stdin     ? hasher.HashBytes(stdin_bytes, hash_options)
                                                                 : hasher.HashFile(item.path, hash_options);
        filled.done = true;
        if (result.ok()) {
          filled.line = FormatLine(options, item.path, *result);
        } else {
          filled.error = std::string(result.status().message());
        }
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
      std::lock_guard<std::mutex> lock(err_mu);  // not in the middle of a worker's progress line
      err << "hashbank hash: " << items[i].path << ": " << slot.error << '\n';
    }
  }
  for (std::thread& t : threads) t.join();
  out.flush();
  if (expanded.skipped > 0) {
    err << "hashbank hash: skipped " << expanded.skipped << (expanded.skipped == 1 ? " file" : " files")
        << " that " << (expanded.skipped == 1 ? "is" : "are") << " not a JPEG, PNG or video (e.g. "
        << expanded.first_skipped << ")\n";
  }
  return any_failed ? 1 : 0;
}

}  // namespace hashbank
