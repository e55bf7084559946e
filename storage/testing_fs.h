// FaultInjectionFileSystem: a rocksdb::FileSystem for tests that simulates power loss and failed I/O, so a
// test can show what RocksDB (and SignalStore on top of it) keeps when the machine dies mid-write. Debian's
// RocksDB does not ship utilities/fault_injection_fs.h; this is a small stand-in written against the public
// rocksdb/file_system.h only. Test-only (CMake: hashbank_storage_testing); never linked into the node.
//
// What it models:
//   * Durability: per file written through it (NewWritableFile / ReopenWritableFile), the bytes appended and
//     the bytes made durable. Only Sync/Fsync of the file make its bytes durable; Flush, RangeSync and Close
//     do not (the page cache may still hold them). Files this file system did not write (existing before it
//     was created, or written by other means) count as durable; an existing file recreated by NewWritableFile
//     keeps its name but is tracked from length 0.
//   * Directory entries: a file created, hard-linked or renamed into a directory is only durable once that
//     directory is fsynced (FSDirectory::Fsync). Until then, power loss removes a new file and puts back the
//     old contents of a file a rename replaced (kept in memory if it was at most 64 KiB; larger replaced
//     files stay replaced).
//   * Crash(): the moment the power goes. Every later mutating call (create, reopen, append, sync, truncate,
//     rename, link, delete, mkdir, rmdir, directory fsync) fails with IOError and changes nothing on disk, so
//     whatever RocksDB does while it is shut down afterwards (the store's destructor closes the DB) cannot
//     make anything more durable or remove anything. Reads, locks, Close and the info LOG keep working.
//   * DropUnsyncedData(): the disk after the power loss. Applies the lost directory entries, then cuts every
//     tracked file back to its durable length (kDrop), to its durable length plus half of the rest (kTear:
//     some of the unsynced pages reached the disk, tearing any record that straddles the cut), or leaves
//     everything (kKeep: only the process died, the OS kept its page cache — like SIGKILL). Then forgets
//     all tracking and faults and lifts the crash, so the same object serves the reopened database.
//   * Faults: FailWritesAfter(n) / FailSyncsAfter(n): the next n appends (syncs) succeed, every later one
//     returns IOError without touching the file (n = 0: fail from now on), until ClearFaults(). An optional
//     name suffix (".log": the WAL) limits the fault to matching files. A failed sync leaves the appended bytes
//     in the file, readable but not durable — what a real failed fsync does.
// Not modelled: deletions are not undone (a deleted file never comes back, nor does the source name of a
// rename); new directories are durable at once; NewRandomRWFile writes are not tracked and ReuseWritableFile
// is refused (NotSupported: RocksDB uses them only for features SignalStore does not enable); damage inside
// a synced range (bit rot, disks that lie about fsync).
//
// Ownership: wraps `base`, shared; DropUnsyncedData cuts files with std::filesystem, so `base` must be a file
// system over real paths (rocksdb::FileSystem::Default()). Share the object between the store
// (SignalStoreOptions::file_system) and the test; files and directories it opened hold a plain pointer back to
// it, so it must outlive them (it does when the RocksDB Env holds it, as SignalStore's does).
// Thread-safety: all methods may be called concurrently (RocksDB's background threads do). One mutex, held
// across each tracked operation including its real I/O (so a Crash() never splits one; I/O is serialized).
// Crash() and DropUnsyncedData() are meant to be called by the test between operations; DropUnsyncedData()
// requires that no database is open on the affected files (destroy the store first).
// Errors: injected failures and post-crash calls return IOStatus::IOError naming the cause; DropUnsyncedData
// returns the first error of the real file operations it performs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <rocksdb/file_system.h>

namespace hashbank::testing {

class FaultInjectionFileSystem : public rocksdb::FileSystemWrapper {
 public:
  enum class Unsynced { kDrop, kTear, kKeep };
  enum class Fault { kWrite, kSync };

  explicit FaultInjectionFileSystem(std::shared_ptr<rocksdb::FileSystem> base);
  ~FaultInjectionFileSystem() override;

  const char* Name() const override { return "hashbank.FaultInjectionFileSystem"; }

  // Power loss now: freezes durable state; later mutating calls fail and do nothing.
  void Crash();
  bool crashed() const;
  // The disk after power loss (see above); lifts the crash and clears tracking and faults.
  rocksdb::IOStatus DropUnsyncedData(Unsynced unsynced = Unsynced::kDrop);

  // After `n` more successful operations of `kind` on files whose name ends with `name_suffix`, every such
  // operation fails (n = 0: from now on) until ClearFaults().
  void FailAfter(Fault kind, uint64_t n, std::string name_suffix = "");
  void FailWritesAfter(uint64_t n, std::string name_suffix = "") {
    FailAfter(Fault::kWrite, n, std::move(name_suffix));
  }
  void FailSyncsAfter(uint64_t n, std::string name_suffix = "") { FailAfter(Fault::kSync, n, std::move(name_suffix)); }
  void ClearFaults();
  // How many operations failed because of FailAfter (not counting post-crash refusals).
  uint64_t injected_failures() const;
  // Bytes appended through this file system and not yet durable, over all tracked files.
  uint64_t UnsyncedBytes() const;

  // rocksdb::FileSystem: the calls that create, change or remove files and directory entries.
  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* result, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& fname, size_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& src, const std::string& target, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDir(const std::string& dirname, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& dirname, const rocksdb::IOOptions& options,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteDir(const std::string& dirname, const rocksdb::IOOptions& options,
                              rocksdb::IODebugContext* dbg) override;

 private:
  class File;
  class Directory;
  struct FileState {
    uint64_t size = 0;    // bytes appended (the file's length as written through us)
    uint64_t synced = 0;  // bytes durable
  };
  struct FaultRule {
    std::optional<uint64_t> remaining;  // unset: no fault armed
    std::string suffix;
  };

  // Both return the error to report, or OK to go ahead (counting the operation against an armed fault).
  rocksdb::IOStatus CheckFault(Fault kind, const std::string& fname);
  rocksdb::IOStatus CheckAlive(const char* what) const;
  void RecordNewEntry(const std::string& fname, std::optional<std::string> previous);
  rocksdb::IOStatus OpenTracked(const std::string& fname, std::unique_ptr<rocksdb::FSWritableFile> file,
                                uint64_t existing_size, std::unique_ptr<rocksdb::FSWritableFile>* result);

  mutable std::mutex mu_;
  bool crashed_ = false;
  std::map<std::string, std::shared_ptr<FileState>> files_;
  // Per directory: entries added since its last fsync -> the contents the name had before (nullopt: none).
  std::map<std::string, std::map<std::string, std::optional<std::string>>> unsynced_entries_;
  FaultRule faults_[2];
  uint64_t injected_failures_ = 0;
};

}  // namespace hashbank::testing
