// The simulator itself: FaultInjectionFileSystem keeps exactly what was synced (file bytes and directory
// entries) across a simulated power loss, refuses every change after the crash, fails the operations it is
// told to, and bites on a real RocksDB (an unsynced write is lost, a synced one survives) — so the
// SignalStore tests that pass under it mean something.
#include "storage/testing_fs.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "tests/support/temp_dir.h"

namespace hashbank::testing {
namespace {

namespace fs = std::filesystem;
using Unsynced = FaultInjectionFileSystem::Unsynced;

std::string Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

rocksdb::IOOptions Io() { return rocksdb::IOOptions(); }

std::unique_ptr<rocksdb::FSWritableFile> Create(FaultInjectionFileSystem& fsim, const std::string& path) {
  std::unique_ptr<rocksdb::FSWritableFile> f;
  EXPECT_TRUE(fsim.NewWritableFile(path, rocksdb::FileOptions(), &f, nullptr).ok());
  return f;
}

void SyncDir(FaultInjectionFileSystem& fsim, const std::string& dir) {
  std::unique_ptr<rocksdb::FSDirectory> d;
  ASSERT_TRUE(fsim.NewDirectory(dir, Io(), &d, nullptr).ok());
  ASSERT_TRUE(d->Fsync(Io(), nullptr).ok());
}

std::shared_ptr<FaultInjectionFileSystem> NewFs() {
  return std::make_shared<FaultInjectionFileSystem>(rocksdb::FileSystem::Default());
}

TEST(FaultInjectionFileSystemTest, PowerLossCutsFilesBackToTheirSyncedBytes) {
  TempDir dir{"hashbank-fsim"};
  auto fsim = NewFs();
  auto f = Create(*fsim, dir.File("a"));
  ASSERT_TRUE(f->Append("durable|", Io(), nullptr).ok());
  ASSERT_TRUE(f->Sync(Io(), nullptr).ok());
  ASSERT_TRUE(f->Append("flushed-not-synced", Io(), nullptr).ok());
  ASSERT_TRUE(f->Flush(Io(), nullptr).ok());
  ASSERT_TRUE(f->RangeSync(0, 26, Io(), nullptr).ok());  // not a durability point here
  ASSERT_TRUE(f->Close(Io(), nullptr).ok());             // nor is close
  SyncDir(*fsim, dir.path().string());
  EXPECT_EQ(fsim->UnsyncedBytes(), 18u);
  EXPECT_EQ(Contents(dir.File("a")), "durable|flushed-not-synced");  // the page cache still has it

  fsim->Crash();
  ASSERT_TRUE(fsim->DropUnsyncedData().ok());
  EXPECT_EQ(Contents(dir.File("a")), "durable|");
}

TEST(FaultInjectionFileSystemTest, TearKeepsHalfOfTheUnsyncedTailAndKeepKeepsAll) {
  for (Unsynced mode : {Unsynced::kTear, Unsynced::kKeep}) {
    TempDir dir{"hashbank-fsim"};
    auto fsim = NewFs();
    auto f = Create(*fsim, dir.File("a"));
    ASSERT_TRUE(f->Append("1234", Io(), nullptr).ok());
    ASSERT_TRUE(f->Fsync(Io(), nullptr).ok());
    ASSERT_TRUE(f->Append("abcdefgh", Io(), nullptr).ok());
    ASSERT_TRUE(f->Close(Io(), nullptr).ok());
    SyncDir(*fsim, dir.path().string());
    fsim->Crash();
    ASSERT_TRUE(fsim->DropUnsyncedData(mode).ok());
    EXPECT_EQ(Contents(dir.File("a")), mode == Unsynced::kTear ? "1234abcd" : "1234abcdefgh");
  }
}

TEST(FaultInjectionFileSystemTest, NewFileWithoutDirectorySyncVanishes) {
  TempDir dir{"hashbank-fsim"};
  auto fsim = NewFs();
  auto f = Create(*fsim, dir.File("new"));
  ASSERT_TRUE(f->Append("synced data", Io(), nullptr).ok());
  ASSERT_TRUE(f->Sync(Io(), nullptr).ok());  // the bytes, but not the name
  ASSERT_TRUE(f->Close(Io(), nullptr).ok());
  fsim->Crash();
  ASSERT_TRUE(fsim->DropUnsyncedData().ok());
  EXPECT_FALSE(fs::exists(dir.File("new")));
}

TEST(FaultInjectionFileSystemTest, RenameIsUndoneUntilItsDirectoryIsSynced) {
  for (bool sync_dir_after_rename : {false, true}) {
    TempDir dir{"hashbank-fsim"};
    auto fsim = NewFs();
    {  // CURRENT-style: the old version is durable, the new one is written aside, synced and renamed over it
      auto f = Create(*fsim, dir.File("CURRENT"));
      ASSERT_TRUE(f->Append("old\n", Io(), nullptr).ok());
      ASSERT_TRUE(f->Sync(Io(), nullptr).ok());
      ASSERT_TRUE(f->Close(Io(), nullptr).ok());
      SyncDir(*fsim, dir.path().string());
      auto t = Create(*fsim, dir.File("tmp"));
      ASSERT_TRUE(t->Append("new\n", Io(), nullptr).ok());
      ASSERT_TRUE(t->Sync(Io(), nullptr).ok());
      ASSERT_TRUE(t->Close(Io(), nullptr).ok());
    }
    ASSERT_TRUE(fsim->RenameFile(dir.File("tmp"), dir.File("CURRENT"), Io(), nullptr).ok());
    if (sync_dir_after_rename) SyncDir(*fsim, dir.path().string());
    fsim->Crash();
    ASSERT_TRUE(fsim->DropUnsyncedData().ok());
    EXPECT_EQ(Contents(dir.File("CURRENT")), sync_dir_after_rename ? "new\n" : "old\n");
    EXPECT_FALSE(fs::exists(dir.File("tmp")));
  }
}

TEST(FaultInjectionFileSystemTest, AfterTheCrashNothingChangesOnDisk) {
  TempDir dir{"hashbank-fsim"};
  auto fsim = NewFs();
  auto f = Create(*fsim, dir.File("a"));
  ASSERT_TRUE(f->Append("x", Io(), nullptr).ok());
  ASSERT_TRUE(f->Sync(Io(), nullptr).ok());
  SyncDir(*fsim, dir.path().string());
  fsim->Crash();
  EXPECT_TRUE(fsim->crashed());
  EXPECT_TRUE(f->Append("y", Io(), nullptr).IsIOError());
  EXPECT_TRUE(f->Sync(Io(), nullptr).IsIOError());
  std::unique_ptr<rocksdb::FSWritableFile> g;
  EXPECT_TRUE(fsim->NewWritableFile(dir.File("b"), rocksdb::FileOptions(), &g, nullptr).IsIOError());
  EXPECT_TRUE(fsim->DeleteFile(dir.File("a"), Io(), nullptr).IsIOError());
  EXPECT_TRUE(fsim->RenameFile(dir.File("a"), dir.File("c"), Io(), nullptr).IsIOError());
  std::unique_ptr<rocksdb::FSDirectory> d;
  ASSERT_TRUE(fsim->NewDirectory(dir.path().string(), Io(), &d, nullptr).ok());
  EXPECT_TRUE(d->Fsync(Io(), nullptr).IsIOError());
  EXPECT_EQ(fsim->injected_failures(), 0u);  // refusals after a crash are not injected faults
  ASSERT_TRUE(f->Close(Io(), nullptr).ok());
  ASSERT_TRUE(fsim->DropUnsyncedData().ok());
  EXPECT_FALSE(fsim->crashed());
  EXPECT_EQ(Contents(dir.File("a")), "x");
  EXPECT_FALSE(fs::exists(dir.File("b")));
  EXPECT_FALSE(fs::exists(dir.File("c")));
}

TEST(FaultInjectionFileSystemTest, FaultsFireAfterNOperationsOnMatchingFilesOnly) {
  TempDir dir{"hashbank-fsim"};
  auto fsim = NewFs();
  auto wal = Create(*fsim, dir.File("000004.log"));
  auto sst = Create(*fsim, dir.File("000005.sst"));
  fsim->FailWritesAfter(2, ".log");
  EXPECT_TRUE(wal->Append("1", Io(), nullptr).ok());
  EXPECT_TRUE(sst->Append("s", Io(), nullptr).ok());  // does not match: not counted
  EXPECT_TRUE(wal->Append("2", Io(), nullptr).ok());
  EXPECT_TRUE(wal->Append("3", Io(), nullptr).IsIOError());
  EXPECT_TRUE(wal->Append("4", Io(), nullptr).IsIOError());  // sticky
  EXPECT_EQ(fsim->injected_failures(), 2u);
  fsim->ClearFaults();
  EXPECT_TRUE(wal->Append("5", Io(), nullptr).ok());

  // A failed sync leaves the bytes in the file, but not durable: power loss takes them.
  fsim->FailSyncsAfter(0);
  EXPECT_TRUE(wal->Sync(Io(), nullptr).IsIOError());
  EXPECT_TRUE(sst->Fsync(Io(), nullptr).IsIOError());
  EXPECT_EQ(fsim->injected_failures(), 4u);
  ASSERT_TRUE(wal->Close(Io(), nullptr).ok());
  ASSERT_TRUE(sst->Close(Io(), nullptr).ok());
  EXPECT_EQ(Contents(dir.File("000004.log")), "125");
  SyncDir(*fsim, dir.path().string());
  fsim->Crash();
  ASSERT_TRUE(fsim->DropUnsyncedData().ok());
  EXPECT_EQ(Contents(dir.File("000004.log")), "");
  EXPECT_EQ(fsim->injected_failures(), 4u);
}

// On a real RocksDB: a write acknowledged with sync survives power loss, an unsynced one does not (it does
// survive a mere process crash), and the database opens cleanly either way.
TEST(FaultInjectionFileSystemTest, RocksDbKeepsSyncedWritesAndLosesUnsyncedOnes) {
  for (Unsynced mode : {Unsynced::kDrop, Unsynced::kKeep}) {
    SCOPED_TRACE(mode == Unsynced::kDrop ? "power loss" : "process crash");
    TempDir dir{"hashbank-fsim"};
    auto fsim = NewFs();
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fsim);
    rocksdb::Options options;
    options.create_if_missing = true;
    options.env = env.get();
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir.path().string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::WriteOptions synced;
    synced.sync = true;
    ASSERT_TRUE(db->Put(synced, "a", "1").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "b", "2").ok());
    EXPECT_GT(fsim->UnsyncedBytes(), 0u);
    fsim->Crash();
    db.reset();
    ASSERT_TRUE(fsim->DropUnsyncedData(mode).ok());

    ASSERT_TRUE(rocksdb::DB::Open(options, dir.path().string(), &raw).ok());
    db.reset(raw);
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "a", &value).ok());
    EXPECT_EQ(value, "1");
    const rocksdb::Status b = db->Get(rocksdb::ReadOptions(), "b", &value);
    if (mode == Unsynced::kDrop) {
      EXPECT_TRUE(b.IsNotFound()) << b.ToString();
    } else {
      EXPECT_TRUE(b.ok()) << b.ToString();
    }
    db.reset();
  }
}

}  // namespace
}  // namespace hashbank::testing
