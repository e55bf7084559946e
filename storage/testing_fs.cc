#include "storage/testing_fs.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

namespace hashbank::testing {
namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;

constexpr uint64_t kMaxRestoredBytes = 64 << 10;

// (directory, name) of a path, both normalized the same way for files and for NewDirectory's argument.
std::pair<std::string, std::string> SplitPath(const std::string& path) {
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "dir/" -> "dir"
  return {p.parent_path().string(), p.filename().string()};
}

std::string NormalDir(const std::string& dir) {
  std::filesystem::path p = std::filesystem::path(dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();
  return p.string();
}

std::string Normal(const std::string& path) {
  auto [dir, name] = SplitPath(path);
  return (std::filesystem::path(dir) / name).string();
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// A writable file that reports appends and syncs to its FileState. Every call runs under the file system's
// mutex, so a Crash() never falls in the middle of one.
class FaultInjectionFileSystem::File : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  File(FaultInjectionFileSystem* fs, std::string name, std::shared_ptr<FileState> state,
       std::unique_ptr<rocksdb::FSWritableFile> target)
      : FSWritableFileOwnerWrapper(std::move(target)), fs_(fs), name_(std::move(name)), state_(std::move(state)) {}

  IOStatus Append(const rocksdb::Slice& data, const IOOptions& options, IODebugContext* dbg) override {
    return Write(data.size(), [&] { return FSWritableFileOwnerWrapper::Append(data, options, dbg); });
  }
  IOStatus Append(const rocksdb::Slice& data, const IOOptions& options, const rocksdb::DataVerificationInfo& info,
                  IODebugContext* dbg) override {
    return Write(data.size(), [&] { return FSWritableFileOwnerWrapper::Append(data, options, info, dbg); });
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset, const IOOptions& options,
                            IODebugContext* dbg) override {
    return Write(
        data.size(), [&] { return FSWritableFileOwnerWrapper::PositionedAppend(data, offset, options, dbg); }, offset);
  }
  IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset, const IOOptions& options,
                            const rocksdb::DataVerificationInfo& info, IODebugContext* dbg) override {
    return Write(
        data.size(), [&] { return FSWritableFileOwnerWrapper::PositionedAppend(data, offset, options, info, dbg); },
        offset);
  }
  IOStatus Truncate(uint64_t size, const IOOptions& options, IODebugContext* dbg) override {
    std::lock_guard lock(fs_->mu_);
    if (IOStatus s = fs_->CheckAlive("truncate"); !s.ok()) return s;
    IOStatus s = FSWritableFileOwnerWrapper::Truncate(size, options, dbg);
    if (s.ok()) {
      state_->size = size;
      state_->synced = std::min(state_->synced, size);
    }
    return s;
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    return DoSync([&] { return FSWritableFileOwnerWrapper::Sync(options, dbg); });
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    return DoSync([&] { return FSWritableFileOwnerWrapper::Fsync(options, dbg); });
  }

 private:
  template <typename Op>
  IOStatus Write(size_t n, Op&& op, std::optional<uint64_t> offset = std::nullopt) {
    std::lock_guard lock(fs_->mu_);
    if (IOStatus s = fs_->CheckAlive("append"); !s.ok()) return s;
    if (IOStatus s = fs_->CheckFault(Fault::kWrite, name_); !s.ok()) return s;
    IOStatus s = op();
    if (s.ok()) state_->size = std::max(state_->size, offset.value_or(state_->size) + n);
    return s;
  }
  template <typename Op>
  IOStatus DoSync(Op&& op) {
    std::lock_guard lock(fs_->mu_);
    if (IOStatus s = fs_->CheckAlive("sync"); !s.ok()) return s;
    if (IOStatus s = fs_->CheckFault(Fault::kSync, name_); !s.ok()) return s;
    IOStatus s = op();
    if (s.ok()) state_->synced = state_->size;
    return s;
  }

  FaultInjectionFileSystem* fs_;
  std::string name_;
  std::shared_ptr<FileState> state_;
};

// A directory whose fsync makes the entries added to it durable.
class FaultInjectionFileSystem::Directory : public rocksdb::FSDirectoryWrapper {
 public:
  Directory(FaultInjectionFileSystem* fs, std::string name, std::unique_ptr<rocksdb::FSDirectory> target)
      : FSDirectoryWrapper(std::move(target)), fs_(fs), name_(std::move(name)) {}

  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    return DoSync([&] { return FSDirectoryWrapper::Fsync(options, dbg); });
  }
  IOStatus FsyncWithDirOptions(const IOOptions& options, IODebugContext* dbg,
                               const rocksdb::DirFsyncOptions& dir_options) override {
    return DoSync([&] { return FSDirectoryWrapper::FsyncWithDirOptions(options, dbg, dir_options); });
  }

 private:
  template <typename Op>
  IOStatus DoSync(Op&& op) {
    std::lock_guard lock(fs_->mu_);
    if (IOStatus s = fs_->CheckAlive("directory fsync"); !s.ok()) return s;
    IOStatus s = op();
    if (s.ok()) fs_->unsynced_entries_.erase(name_);
    return s;
  }

  FaultInjectionFileSystem* fs_;
  std::string name_;
};

FaultInjectionFileSystem::FaultInjectionFileSystem(std::shared_ptr<rocksdb::FileSystem> base)
    : FileSystemWrapper(base) {}
FaultInjectionFileSystem::~FaultInjectionFileSystem() = default;

void FaultInjectionFileSystem::Crash() {
  std::lock_guard lock(mu_);
  crashed_ = true;
}

bool FaultInjectionFileSystem::crashed() const {
  std::lock_guard lock(mu_);
  return crashed_;
}

void FaultInjectionFileSystem::FailAfter(Fault kind, uint64_t n, std::string name_suffix) {
  std::lock_guard lock(mu_);
  faults_[static_cast<size_t>(kind)] = FaultRule{n, std::move(name_suffix)};
}

void FaultInjectionFileSystem::ClearFaults() {
  std::lock_guard lock(mu_);
  for (FaultRule& f : faults_) f = FaultRule{};
}

uint64_t FaultInjectionFileSystem::injected_failures() const {
  std::lock_guard lock(mu_);
  return injected_failures_;
}

uint64_t FaultInjectionFileSystem::UnsyncedBytes() const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& [name, state] : files_) n += state->size - std::min(state->synced, state->size);
  return n;
}

IOStatus FaultInjectionFileSystem::CheckAlive(const char* what) const {
  if (crashed_) return IOStatus::IOError(std::string("simulated power loss: ") + what + " after the crash");
  return IOStatus::OK();
}

IOStatus FaultInjectionFileSystem::CheckFault(Fault kind, const std::string& fname) {
  FaultRule& rule = faults_[static_cast<size_t>(kind)];
  if (!rule.remaining.has_value() || !EndsWith(fname, rule.suffix)) return IOStatus::OK();
  if (*rule.remaining > 0) {
    --*rule.remaining;
    return IOStatus::OK();
  }
  ++injected_failures_;
  return IOStatus::IOError(std::string("injected ") + (kind == Fault::kWrite ? "write" : "sync") +
                           " failure: " + fname);
}

void FaultInjectionFileSystem::RecordNewEntry(const std::string& fname, std::optional<std::string> previous) {
  auto [dir, name] = SplitPath(fname);
  unsynced_entries_[dir].try_emplace(name, std::move(previous));  // an older record keeps what was durable
}

IOStatus FaultInjectionFileSystem::OpenTracked(const std::string& fname, std::unique_ptr<rocksdb::FSWritableFile> file,
                                               uint64_t existing_size,
                                               std::unique_ptr<rocksdb::FSWritableFile>* result) {
  auto state = std::make_shared<FileState>();
  state->size = existing_size;
  state->synced = existing_size;
  files_[fname] = state;
  *result = std::make_unique<File>(this, fname, std::move(state), std::move(file));
  return IOStatus::OK();
}

IOStatus FaultInjectionFileSystem::NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                                   std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                   IODebugContext* dbg) {
  std::lock_guard lock(mu_);
  if (IOStatus s = CheckAlive("create"); !s.ok()) return s;
  const std::string name = Normal(fname);
  const bool existed = target()->FileExists(fname, IOOptions(), nullptr).ok();
  std::unique_ptr<rocksdb::FSWritableFile> file;
  if (IOStatus s = target()->NewWritableFile(fname, options, &file, dbg); !s.ok()) return s;
  if (!existed) RecordNewEntry(name, std::nullopt);
  return OpenTracked(name, std::move(file), 0, result);  // an existing file was truncated: nothing durable
}

IOStatus FaultInjectionFileSystem::ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                                      IODebugContext* dbg) {
  std::lock_guard lock(mu_);
  if (IOStatus s = CheckAlive("reopen"); !s.ok()) return s;
  const std::string name = Normal(fname);
  uint64_t size = 0;
  const bool existed = target()->GetFileSize(fname, IOOptions(), &size, nullptr).ok();
  std::unique_ptr<rocksdb::FSWritableFile> file;
  if (IOStatus s = target()->ReopenWritableFile(fname, options, &file, dbg); !s.ok()) return s;
  if (!existed) RecordNewEntry(name, std::nullopt);
  if (auto it = files_.find(name); it != files_.end()) {  // still tracked: keep what is durable of it
    *result = std::make_unique<File>(this, name, it->second, std::move(file));
    return IOStatus::OK();
  }
  return OpenTracked(name, std::move(file), existed ? size : 0, result);
}

IOStatus FaultInjectionFileSystem::ReuseWritableFile(const std::string& fname, const std::string&,
                                                     const rocksdb::FileOptions&,
                                                     std::unique_ptr<rocksdb::FSWritableFile>*, IODebugContext*) {
  return IOStatus::NotSupported("FaultInjectionFileSystem does not recycle files", fname);
}

IOStatus FaultInjectionFileSystem::NewDirectory(const std::string& name, const IOOptions& options,
                                                std::unique_ptr<rocksdb::FSDirectory>* result, IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSDirectory> dir;
  if (IOStatus s = target()->NewDirectory(name, options, &dir, dbg); !s.ok()) return s;
  *result = std::make_unique<Directory>(this, NormalDir(name), std::move(dir));
  return IOStatus::OK();
}

IOStatus FaultInjectionFileSystem::DeleteFile(const std::string& fname, const IOOptions& options, IODebugContext* dbg) {
  std::lock_guard lock(mu_);
  if (IOStatus s = CheckAlive("delete"); !s.ok()) return s;
  IOStatus s = target()->DeleteFile(fname, options, dbg);
  if (s.ok()) {
    const std::string name = Normal(fname);
    files_.erase(name);
    auto [dir, base] = SplitPath(name);
    if (auto it = unsynced_entries_.find(dir); it != unsynced_entries_.end()) it->second.erase(base);
  }
  return s;
}

IOStatus FaultInjectionFileSystem::Truncate(const std::string& fname, size_t size, const IOOptions& options,
                                            IODebugContext* dbg) {
  std::lock_guard lock(mu_);
  if (IOStatus s = CheckAlive("truncate"); !s.ok()) return s;
  IOStatus s = target()->Truncate(fname, size, options, dbg);
  if (s.ok()) {
    if (auto it = files_.find(Normal(fname)); it != files_.end()) {
      it->second->size = size;
      it->second->synced = std::min<uint64_t>(it->second->synced, size);
    }
  }
  return s;
}

IOStatus FaultInjectionFileSystem::RenameFile(const std::string& src, const std::string& dst, const IOOptions& options,
                                              IODebugContext* dbg) {
  std::lock_guard lock(mu_);
  if (IOStatus s = CheckAlive("rename"); !s.ok()) return s;
  const std::string from = Normal(src);
  const std::string to = Normal(dst);
  // What `dst` held, so that power loss before its directory is synced can put it back.
  std::optional<std::string> previous;
  bool restorable = true;
  uint64_t size = 0;
  if (target()->GetFileSize(dst, IOOptions(), &size, nullptr).ok()) {
    restorable = false;
    std::unique_ptr<rocksdb::FSSequentialFile> in;
    if (size <= kMaxRestoredBytes && target()->NewSequentialFile(dst, rocksdb::FileOptions(), &in, nullptr).ok()) {
      std::string buf(size, '\0');
      rocksdb::Slice got;
      if (in->Read(size, IOOptions(), &got, buf.data(), nullptr).ok() && got.size() == size) {
        previous = got.ToString();
        restorable = true;
      }
    }
  }
  IOStatus s = target()->RenameFile(src, dst, options, dbg);
  if (!s.ok()) return s;
  files_.erase(to);
  if (auto it = files_.find(from); it != files_.end()) {
    files_[to] = it->second;
    files_.erase(it);
  }
  auto [src_dir, src_name] = SplitPath(from);
  if (auto it = unsynced_entries_.find(src_dir); it != unsynced_entries_.end()) it->second.erase(src_name);
  if (restorable) RecordNewEntry(to, std::move(previous));
  return s;
}

IOStatus FaultInjectionFileSystem::LinkFile(const std::string& src, const std::string& dst, const IOOptions& options,
                                            IODebugContext* dbg) {
  std::lock_guard lock(mu_);
  if (IOStatus s = CheckAlive("link"); !s.ok()) return s;
  IOStatus s = target()->LinkFile(src, dst, options, dbg);
  if (s.ok()) RecordNewEntry(Normal(dst), std::nullopt);
  return s;
}

IOStatus FaultInjectionFileSystem::CreateDir(const std::string& dirname, const IOOptions& options,
                                             IODebugContext* dbg) {
  std::lock_guard lock(mu_);
  if (IOStatus s = CheckAlive("mkdir"); !s.ok()) return s;
  return target()->CreateDir(dirname, options, dbg);
}

IOStatus FaultInjectionFileSystem::CreateDirIfMissing(const std::string& dirname, const IOOptions& options,
                                                      IODebugContext* dbg) {
  std::lock_guard lock(mu_);
  if (IOStatus s = CheckAlive("mkdir"); !s.ok()) return s;
  return target()->CreateDirIfMissing(dirname, options, dbg);
}

IOStatus FaultInjectionFileSystem::DeleteDir(const std::string& dirname, const IOOptions& options,
                                             IODebugContext* dbg) {
  std::lock_guard lock(mu_);
  if (IOStatus s = CheckAlive("rmdir"); !s.ok()) return s;
  return target()->DeleteDir(dirname, options, dbg);
}

IOStatus FaultInjectionFileSystem::DropUnsyncedData(Unsynced unsynced) {
  std::lock_guard lock(mu_);
  IOStatus first;
  auto note = [&](IOStatus s) {
    if (first.ok() && !s.ok()) first = std::move(s);
  };
  if (unsynced != Unsynced::kKeep) {
    // Directory entries that never became durable: new names vanish, replaced files get their old bytes.
    for (const auto& [dir, entries] : unsynced_entries_) {
      for (const auto& [base, previous] : entries) {
        const std::string path = (std::filesystem::path(dir) / base).string();
        files_.erase(path);
        if (!previous.has_value()) {
          IOStatus s = target()->DeleteFile(path, IOOptions(), nullptr);
          if (!s.IsNotFound()) note(std::move(s));
          continue;
        }
        std::unique_ptr<rocksdb::FSWritableFile> out;
        IOStatus s = target()->NewWritableFile(path, rocksdb::FileOptions(), &out, nullptr);
        if (s.ok()) s = out->Append(*previous, IOOptions(), nullptr);
        if (s.ok()) s = out->Sync(IOOptions(), nullptr);
        if (s.ok()) s = out->Close(IOOptions(), nullptr);
        note(std::move(s));
      }
    }
    // File contents: cut back to what was durable (kTear: plus half of the rest).
    for (const auto& [path, state] : files_) {
      const uint64_t synced = std::min(state->synced, state->size);
      const uint64_t keep = unsynced == Unsynced::kTear ? synced + (state->size - synced) / 2 : synced;
      uint64_t actual = 0;
      IOStatus s = target()->GetFileSize(path, IOOptions(), &actual, nullptr);
      if (s.IsNotFound()) continue;
      if (s.ok() && actual > keep) {  // the POSIX FileSystem of RocksDB 7.8 does not implement Truncate
        std::error_code ec;
        std::filesystem::resize_file(path, keep, ec);
        if (ec) s = IOStatus::IOError("cannot truncate " + path + ": " + ec.message());
      }
      note(std::move(s));
    }
  }
  files_.clear();
  unsynced_entries_.clear();
  for (FaultRule& f : faults_) f = FaultRule{};
  crashed_ = false;
  return first;
}

}  // namespace hashbank::testing
