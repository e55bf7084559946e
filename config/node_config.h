// NodeConfig: the node's one typed configuration, read from one YAML file plus HASHBANK_* environment
// overrides. docs/configuration.md documents every key.
//
// Sources, lowest precedence first: the defaults below (member initialisers), the YAML file, then the
// environment, where HASHBANK_<SECTION>_<KEY> (upper case, e.g. HASHBANK_API_LISTEN) overrides
// <section>.<key>. Every key is optional; every key is checked. An unknown section or key, in the file or as
// HASHBANK_<known section>_<anything else>, is an error, so a typo never silently falls back to a default;
// other HASHBANK_* variables (HASHBANK_CONFIG, ...) are not config keys and are ignored.
//
// Errors are InvalidArgument, and each message starts with what it is about: the key path
// ("limits.max_batch_items: expected an integer, got \"lots\" (line 4, column 20)") or, for an override, the
// variable ("HASHBANK_API_THREADS: 0 is outside 1..256"). A file that cannot be read is NotFound,
// PermissionDenied or FailedPrecondition (not a regular file), the message starting with its path; malformed
// YAML names the line and column. No exception escapes.
//
// Most keys are scalars (a string, an integer, true/false). A few, in `federation`, are lists: a list is
// set in the file only, as a whole; HASHBANK_<SECTION>_<LIST KEY> is an error. Errors about an item name it
// by index, "federation.members[1].public_key: ...".
//
// A NodeConfig is a plain value: build one in code, then call Validate(). Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/environment.h"

namespace hashbank {

// A federation member: a node whose signed log this node accepts.
struct FederationMember {
  // Its origin id, the node.id rule (base/node_id.h): 1..64 characters of [a-z0-9._-], starting with a letter
  // or a digit.
  std::string id;
  // Its Ed25519 public key, exactly 64 hex digits of either case (what `hashbank keys show` prints). Whether
  // the digits are a valid curve point is checked when the key is parsed (crypto/signing.h), not here.
  std::string public_key_hex;
  // Optional (config key `certificate_sha256`): the SHA-256 of the member's TLS certificate (DER), 64 hex
  // digits of either case, from its card. When set, this node talks federation with that member only over a
  // certificate with exactly this digest, on both ends: as the member's client and as its server. "" = any
  // certificate the federation CA signed for the member's node id.
  std::string certificate_sha256;

  bool operator==(const FederationMember&) const = default;
};

// A member this node pulls from and notifies.
struct FederationPeer {
  std::string id;   // a FederationMember id, not this node's
  std::string url;  // https://host[:port], see ParsePeerUrl (config/peer_url.h)
  // Derived from `url` (Load fills them in; in code, take them from ParsePeerUrl): Validate() checks they agree.
  std::string host;   // without brackets for IPv6
  uint16_t port = 0;  // 443 when the URL has none

  bool operator==(const FederationPeer&) const = default;
};

struct NodeConfig {
  struct NodeSection {
    // This node's origin id, the node-id rule of base/node_id.h: 1..64 characters of [a-z0-9._-], starting
    // with a letter or a digit.
    std::string id = "local";
    // RocksDB, the salt, generated TLS files and the admin token live here. Not empty.
    std::string data_dir = "./hashbank-data";

    bool operator==(const NodeSection&) const = default;
  };

  // The member HTTPS API.
  struct ApiSection {
    // host:port; see ParseListenAddress (config/listen_address.h). Port 0 = any free port.
    std::string listen = "127.0.0.1:8443";
    // PEM files; both empty = <data_dir>/tls/server.pem and server.key, generated on first start.
    std::string tls_cert;
    std::string tls_key;
    // I/O + worker threads, 1..256.
    uint32_t threads = 2;

    bool operator==(const ApiSection&) const = default;
  };

  struct SaltSection {
    // Empty = <data_dir>/salt.json, generated on first start.
    std::string file;

    bool operator==(const SaltSection&) const = default;
  };

  struct LimitsSection {
    uint64_t max_json_body_bytes = uint64_t{1} << 20;    // 1 KiB .. 1 GiB
    uint64_t max_image_body_bytes = uint64_t{64} << 20;  // 1 KiB .. 1 GiB
    uint64_t max_image_pixels = 100'000'000;             // 1 .. 10^10
    uint32_t max_batch_items = 1000;                     // 1 .. 100000
    uint32_t requests_per_second_per_token = 5000;       // 0 = unlimited, else 1 .. 10^7
    uint32_t burst_per_token = 10000;                    // 1 .. 10^8
    uint32_t request_timeout_ms = 30000;                 // 100 .. 3600000
    uint32_t max_concurrent_uploads = 8;                 // 1 .. 10000: image bodies held at once, all tokens
    uint32_t max_concurrent_uploads_per_token = 2;       // 1 .. 10000: image bodies held at once, one token
    uint64_t max_video_body_bytes = uint64_t{256} << 20; // 1 KiB .. 4 GiB: largest video upload
    uint32_t max_video_seconds = 3600;                   // 1 .. 86400: longest video accepted
    uint64_t max_video_pixels = 8192ull * 4352;          // 1 .. 10^9: width * height of a video's frames
    uint32_t max_video_decode_seconds = 300;             // 1 .. 86400: wall time one video may take to decode
    uint32_t max_concurrent_video_decodes = 1;           // 1 .. 10000: videos decoded at once (each holds a worker)

    bool operator==(const LimitsSection&) const = default;
  };

  struct MatchingSection {
    uint32_t pdq_quality_floor = 50;          // 0..100: PDQ hashes below are refused on submit
    uint32_t pdq_default_max_distance = 31;   // 0..pdq_max_distance_limit
    uint32_t pdq_max_distance_limit = 63;     // 0..256: the largest max_distance a client may ask
    uint32_t video_frame_interval_ms = 1000;  // 0..60000: vPDQ samples a banked video's frame this often (0 = every frame)
    uint32_t video_query_frame_interval_ms = 500;  // 0..60000: and a query video's
    uint32_t video_max_distance = 31;         // 0..256: frame pairs within this PDQ distance match
    uint32_t video_query_match_percent = 80;  // 1..100: share of a query's frames found in a banked video
    uint32_t video_target_match_percent = 80; // 1..100: share of a banked video's frames found in a query
    uint32_t video_range_match_percent = 80;  // 1..100: share of a banked video's frames found in the matched range
    uint32_t video_min_matched_seconds = 5;   // 0..3600: matched media time needed on both sides
    // An ONNX image-embedding model the node runs on image uploads and queries ("" = none); its SHA-256 is
    // its model_id, and its preprocessing comes from the published fingerprint of that id. Restart-only.
    std::string embedding_model;

    bool operator==(const MatchingSection&) const = default;
  };

  // Node-to-node sync over mutual TLS.
  struct FederationSection {
    // host:port of the federation listener (mTLS, protobuf), see ParseListenAddress; "" = no listener.
    std::string listen;
    // The federation CA certificate, PEM; "" = <data_dir>/tls/ca.pem.
    std::string ca;
    uint32_t sync_interval_ms = 2000;      // 100 .. 3600000: how often each peer is polled
    uint32_t max_segment_entries = 10000;  // 1 .. 1000000: leaves per fetched log segment
    // Lists, file-only. Ids are unique in each list; peers and suspended ids are members; no peer is node.id.
    std::vector<FederationMember> members;
    std::vector<FederationPeer> peers;
    std::vector<std::string> suspended;  // origin ids whose new entries are refused
    // Also hide the already-stored signals of suspended origins from matches.
    bool exclude_suspended_from_matching = false;
    // Fingerprint types of this node's own signals that never leave it: "robust" (an image's robust
    // fingerprint and a video's keyframes) and "embedding". They are kept here, salted, outside the signed
    // log, and match only here. Unique. Restart-only.
    std::vector<std::string> keep_at_origin;

    bool operator==(const FederationSection&) const = default;
  };

  // Watch lists and signed webhooks (node/notifications.h).
  struct WebhooksSection {
    uint32_t watch_days = 30;               // 1..365: a watch entry's life
    uint32_t retry_hours = 24;              // 1..168: a delivery is retried this long, then dropped
    uint32_t delivery_timeout_ms = 10000;   // 100..120000: per step of one delivery (connect, TLS, send, answer)
    uint32_t max_watch_entries = 10'000'000;            // 1..10^9: watch entries held, all members
    uint32_t max_watch_entries_per_member = 1'000'000;  // 1..10^9: held for one member (token name)

    bool operator==(const WebhooksSection&) const = default;
  };

  // Cases: the public case page (/) and the case API (/v1/cases; node/case_desk.h).
  struct CasesSection {
    bool public_submission = false;    // anyone may create a case from the page (off: only with a submit token)
    uint32_t per_ip_per_hour = 5;      // 1..10000: cases one IP address may create an hour
    uint32_t global_per_hour = 100;    // 1..1000000: cases created an hour, all addresses
    uint32_t daily_cap = 500;          // 1..10000000: cases created a day (UTC), all addresses
    uint32_t max_hashes = 50;          // 1..1000: files in one case
    uint32_t pin_attempts = 5;         // 1..100: wrong PINs for a case before it is locked for lockout_minutes
    uint32_t lockout_minutes = 15;     // 1..10080
    uint32_t lookups_per_ip_per_hour = 60;  // 1..100000: status and withdrawal requests one IP address may make

    bool operator==(const CasesSection&) const = default;
  };

  NodeSection node;
  ApiSection api;
  SaltSection salt;
  LimitsSection limits;
  MatchingSection matching;
  FederationSection federation;
  WebhooksSection webhooks;
  CasesSection cases;

  bool operator==(const NodeConfig&) const = default;

  // Reads the YAML file at `yaml_path_or_empty` (empty: no file, defaults only), applies the HASHBANK_*
  // overrides in `env`, then Validate()s.
  static absl::StatusOr<NodeConfig> Load(const std::string& yaml_path_or_empty, const Environment& env);
  // The same from YAML text (an empty text is the defaults).
  static absl::StatusOr<NodeConfig> LoadFromString(std::string_view yaml, const Environment& env);

  // OK, or InvalidArgument naming the first key whose value is out of range or malformed, or the first
  // inconsistent pair of keys.
  absl::Status Validate() const;

  // Paths with the <data_dir> defaults applied. An explicit path is returned as written. (A relative path
  // written in a config file was made relative to the file's directory by Load; one from the environment is
  // relative to the working directory.)
  std::string TlsCertPath() const;
  std::string TlsKeyPath() const;
  std::string SaltFilePath() const;
  std::string FederationCaPath() const;

  // Whether this node takes part in federation: it listens for peers, or pulls from some.
  bool FederationEnabled() const;
};

}  // namespace hashbank
