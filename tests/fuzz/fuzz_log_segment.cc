// Fuzz target for everything a peer sends about logs: SignedCheckpoint bytes and LogSegment bytes, verified
// against an empty trust state and against a trusted 3-entry log. Must never crash, hang or accept a
// segment that does not extend the trusted tree to a root signed by the origin's key.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "crypto/signing.h"
#include "protocol/entries.pb.h"
#include "protocol/merkle.h"
#include "protocol/signed_log.h"

namespace {

struct Fixture {
  hashbank::SigningKey key;
  hashbank::TrustedLog trusted3;
  Fixture() : key(Make()) {
    for (uint64_t seq = 1; seq <= 3; ++seq) {
      hashbank::protocol::Entry e;
      e.set_schema_version(1);
      e.set_origin("origin");
      e.set_sequence(seq);
      e.mutable_signal()->set_pdq(std::string(32, static_cast<char>(seq)));
      const std::string bytes = e.SerializeAsString();
      trusted3.tree.Append(hashbank::LeafHash({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}));
    }
    trusted3.checkpoint = hashbank::SignCheckpoint("origin", 3, trusted3.tree.Root(), 1, key);
  }
  static hashbank::SigningKey Make() {
    const uint8_t seed[32] = {7};
    auto k = hashbank::SigningKey::FromSeed(seed);
    if (!k.ok()) std::abort();
    return std::move(*k);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fixture = new Fixture();
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0:
      (void)hashbank::VerifyCheckpoint(bytes, "origin", fixture->key.public_key());
      break;
    case 1: {
      hashbank::SegmentResult r = hashbank::VerifySegment("origin", fixture->key.public_key(), hashbank::TrustedLog{}, bytes);
      // Anything accepted must really be signed by the key and extend to its root.
      if (r.segment.ok() && r.segment->tree.Root() != r.segment->checkpoint.root) std::abort();
      break;
    }
    default: {
      hashbank::SegmentResult r = hashbank::VerifySegment("origin", fixture->key.public_key(), fixture->trusted3, bytes);
      if (r.segment.ok() && (r.segment->tree.size() < 3 || r.segment->tree.Root() != r.segment->checkpoint.root)) std::abort();
      break;
    }
  }
  return 0;
}
