#include "node/cli/identity_commands.h"

#include <arpa/inet.h>

#include <filesystem>

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"
#include "crypto/federation_salt.h"
#include "crypto/signing.h"
#include "crypto/x509.h"
#include "config/peer_url.h"
#include "node/federation_client.h"
#include "protocol/log.pb.h"
#include "protocol/signed_log.h"
#include "storage/signal_store.h"

#include <algorithm>

namespace hashbank {
namespace {

namespace fs = std::filesystem;

int Fail(std::ostream& err, std::string_view command, const absl::Status& s) {
  err << "hashbank " << command << ": " << s.message() << '\n';
  return 1;
}

}  // namespace

int RunCaInitCommand(const std::string& dir, const std::string& name, std::ostream& out, std::ostream& err) {
  auto ca = CreateCertificateAuthority(name, std::chrono::days(3650));
  if (!ca.ok()) return Fail(err, "ca init", ca.status());
  auto salt = FederationSalt::Generate(FederationSalt::RandomId());
  if (!salt.ok()) return Fail(err, "ca init", salt.status());
  // salt.json holds the check value too: public, what every member's node reports for this salt.
  // Keys first and never over an existing file: re-running must not replace a federation's CA key or salt.
  for (const auto& [file, content, mode] :
       {std::tuple{"ca.key", ca->key_pem, 0600u}, std::tuple{"salt.json", salt->ToFileJson(), 0600u},
        std::tuple{"ca.pem", ca->cert_pem, 0644u}}) {
    if (absl::Status st = WritePemFile((fs::path(dir) / file).string(), content, mode, IfFileExists::kFail); !st.ok()) {
      return Fail(err, "ca init", st);
    }
  }
  auto info = InspectCertificate(ca->cert_pem);
  out << "federation CA \"" << name << "\" in " << dir << " (ca.pem; ca.key and salt.json are secret, mode 0600)\n";
  if (info.ok()) out << "CA certificate SHA-256: " << info->sha256_fingerprint_hex << '\n';
  out << "salt id: " << salt->id << ", check value " << salt->CheckValue() << " — distribute salt.json to members out of band\n";
  return 0;
}

int RunNodeInitCommand(const NodeInitOptions& o, std::ostream& out, std::ostream& err) {
  if (absl::Status s = ValidateNodeId(o.id); !s.ok()) return Fail(err, "node init", s);
  if (o.hosts.empty() && o.ips.empty()) {
    return Fail(err, "node init", absl::InvalidArgumentError("give at least one --host or --ip for the certificate"));
  }
  auto ca_key = ReadTextFile((fs::path(o.ca_dir) / "ca.key").string());
  auto ca_cert = ReadTextFile((fs::path(o.ca_dir) / "ca.pem").string());
  auto salt = ReadTextFile((fs::path(o.ca_dir) / "salt.json").string(), 4096);
  if (!ca_key.ok()) return Fail(err, "node init", ca_key.status());
  if (!ca_cert.ok()) return Fail(err, "node init", ca_cert.status());
  if (!salt.ok()) return Fail(err, "node init", salt.status());
  CertificateRequest req;
  req.common_name = o.id;
  // An address given as --host is what the operator means by it: an IP SAN (a DNS name cannot be an IP).
  for (const std::string& h : o.hosts) {
    in6_addr any{};
    const bool is_ip = ::inet_pton(AF_INET, h.c_str(), &any) == 1 || ::inet_pton(AF_INET6, h.c_str(), &any) == 1;
    (is_ip ? req.ip_addresses : req.dns_names).push_back(h);
  }
  req.ip_addresses.insert(req.ip_addresses.end(), o.ips.begin(), o.ips.end());
  req.node_id = o.id;
  req.server_auth = true;
  req.client_auth = true;  // the same certificate serves the federation port and authenticates as a peer
  auto leaf = IssueCertificate(KeyAndCertificate{*ca_key, *ca_cert}, req);
  if (!leaf.ok()) return Fail(err, "node init", leaf.status());
  auto key = SigningKey::Generate();
  if (!key.ok()) return Fail(err, "node init", key.status());
  const fs::path dir(o.out_dir);
  if (absl::Status s = WriteSigningKeyFile((dir / "node.key").string(), o.id, *key); !s.ok()) return Fail(err, "node init", s);
  // data_dir is relative to the file that names it: the file sits in the data directory itself.
  const std::string yaml = absl::StrCat("# written by hashbank node init\nnode:\n  id: \"", o.id,
                                        "\"\n  data_dir: \".\"  # this file's directory\n");
  for (const auto& [file, content, mode] :
       {std::tuple{"tls/server.key", leaf->key_pem, 0600u}, std::tuple{"salt.json", *salt, 0600u},
        std::tuple{"tls/server.pem", leaf->cert_pem, 0644u}, std::tuple{"tls/ca.pem", *ca_cert, 0644u},
        std::tuple{"hashbank.yaml", yaml, 0644u}}) {
    if (absl::Status s = WritePemFile((dir / file).string(), content, mode, IfFileExists::kFail); !s.ok()) {
      return Fail(err, "node init", s);
    }
  }
  auto info = InspectCertificate(leaf->cert_pem);
  PublicCard card;
  card.node_id = o.id;
  card.public_key = key->public_key();
  if (info.ok()) card.certificate_sha256 = info->sha256_fingerprint_hex;
  auto card_json = FormatPublicCard(card);
  if (card_json.ok()) (void)WritePemFile((dir / "card.json").string(), *card_json + "\n", 0644u, IfFileExists::kFail);
  out << "node " << o.id << " in " << o.out_dir << ": node.key (Ed25519, 0600), tls/server.pem + .key (SANs: "
      << absl::StrCat(o.hosts.size() + o.ips.size()) << " names and hashbank://node/" << o.id << "), tls/ca.pem, salt.json\n"
      << "start it with: hashbank serve --config " << (dir / "hashbank.yaml").string() << '\n'
      << "public card (card.json): node_id " << o.id << ", ed25519 " << PublicKeyHex(key->public_key());
  if (info.ok()) out << ", certificate SHA-256 " << info->sha256_fingerprint_hex;
  out << '\n';
  return 0;
}

int RunKeysShowCommand(const NodeOverrides& overrides, std::ostream& out, std::ostream& err) {
  auto config = LoadNodeConfig(overrides);
  if (!config.ok()) return Fail(err, "keys show", config.status());
  if (absl::Status s = RequireExistingNode(*config); !s.ok()) return Fail(err, "keys show", s);
  auto key = ReadSigningKeyFile(SigningKeyPath(*config));
  if (!key.ok()) return Fail(err, "keys show", key.status());
  PublicCard card;
  card.node_id = key->node_id;
  card.public_key = key->key.public_key();
  auto cert = ReadTextFile(config->TlsCertPath());
  if (cert.ok()) {
    auto info = InspectCertificate(*cert);
    if (info.ok()) card.certificate_sha256 = info->sha256_fingerprint_hex;
  }
  auto card_json = FormatPublicCard(card);
  if (!card_json.ok()) return Fail(err, "keys show", card_json.status());
  out << *card_json;
  return 0;
}

namespace {

// `hashbank verify https://host:port`: fetches every member origin's whole log from a node's federation
// listener (with this node's member certificate) and verifies it from the first leaf, in memory, segment by
// segment, against the origin's key from the federation configuration.
int VerifyRemote(const std::string& url, const NodeOverrides& overrides, std::ostream& out, std::ostream& err) {
  auto config = LoadNodeConfig(overrides);
  if (!config.ok()) return Fail(err, "verify", config.status());
  if (config->federation.members.empty()) {
    return Fail(err, "verify", absl::FailedPreconditionError(
                                   "verifying a remote log needs a config with federation.members (the origins' keys) "
                                   "and this node's member certificate: hashbank verify URL --config FILE"));
  }
  auto peer = ParsePeerUrl(url);
  if (!peer.ok()) return Fail(err, "verify", peer.status());
  FederationClientOptions options;
  options.ca_path = config->FederationCaPath();
  options.cert_path = config->TlsCertPath();
  options.key_path = config->TlsKeyPath();
  FederationClient client(options, peer->host, peer->port, "");
  auto list_bytes = client.Get("/fed/v1/checkpoints");
  if (!list_bytes.ok()) return Fail(err, "verify", list_bytes.status());
  protocol::CheckpointList list;
  if (!list.ParseFromString(*list_bytes)) return Fail(err, "verify", absl::DataLossError("the checkpoint list does not parse"));
  int failures = 0;
  for (const protocol::SignedCheckpoint& sc : list.checkpoints()) {
    protocol::Checkpoint c;
    if (!c.ParseFromString(sc.checkpoint())) {
      out << "FAIL a checkpoint does not parse\n";
      ++failures;
      continue;
    }
    const std::string& origin = c.origin();
    auto member = std::find_if(config->federation.members.begin(), config->federation.members.end(),
                               [&](const FederationMember& m) { return m.id == origin; });
    if (member == config->federation.members.end()) {
      out << "skip " << origin << ": not a federation member, no key to check it with\n";
      continue;
    }
    auto key = ParsePublicKeyHex(member->public_key_hex);
    if (!key.ok()) return Fail(err, "verify", key.status());
    TrustedLog trusted;
    uint64_t bodyless = 0;
    absl::Status status = absl::OkStatus();
    while (status.ok() && trusted.tree.size() < c.tree_size()) {
      auto bytes = client.Get(absl::StrCat("/fed/v1/segment?origin=", origin, "&from=", trusted.tree.size(),
                                           "&max=", config->federation.max_segment_entries));
      if (!bytes.ok()) {
        status = bytes.status();
        break;
      }
      SegmentResult r = VerifySegment(origin, *key, trusted, *bytes);
      if (!r.segment.ok()) {
        status = r.segment.status();
        break;
      }
      if (r.segment->tree.size() <= trusted.tree.size()) {
        status = absl::DataLossError("the node served no progress");
        break;
      }
      for (const VerifiedLeaf& leaf : r.segment->leaves) bodyless += leaf.entry.empty() ? 1u : 0u;
      trusted.tree = r.segment->tree;
      trusted.checkpoint = r.segment->checkpoint;
    }
    if (status.ok()) {
      out << "ok   " << origin << ": " << trusted.tree.size() << " leaves (" << bodyless
          << " purged) verified against its signed checkpoints\n";
    } else {
      out << "FAIL " << origin << ": " << status.message() << '\n';
      ++failures;
    }
  }
  if (failures > 0) return Fail(err, "verify", absl::DataLossError(absl::StrCat(failures, " log(s) did not verify")));
  out << "all logs verify\n";
  return 0;
}

}  // namespace

int RunVerifyCommand(const std::string& data_dir, const NodeOverrides& overrides, std::ostream& out, std::ostream& err) {
  if (data_dir.rfind("https://", 0) == 0) return VerifyRemote(data_dir, overrides, out, err);
  NodeOverrides o = overrides;
  o.data_dir = data_dir;
  auto config = LoadNodeConfig(o);
  if (!config.ok()) return Fail(err, "verify", config.status());
  if (absl::Status s = RequireExistingNode(*config); !s.ok()) return Fail(err, "verify", s);
  auto key = ReadSigningKeyFile(SigningKeyPath(*config));
  if (!key.ok()) return Fail(err, "verify", key.status());
  config->node.id = key->node_id;  // verify the directory as the node it belongs to
  auto salter = LoadOrCreateSalt(*config, err);
  if (!salter.ok()) return Fail(err, "verify", salter.status());
  {
    // Every block of every table file, before anything reads the data through the node's own code.
    auto store = SignalStore::Open((std::filesystem::path(config->node.data_dir) / "db").string());
    if (!store.ok()) return Fail(err, "verify", store.status());
    const absl::Status sums = (*store)->VerifyChecksums();
    out << (sums.ok() ? "ok   " : "FAIL ") << "block checksums of every table file"
        << (sums.ok() ? "" : ": " + std::string(sums.message())) << '\n';
    if (!sums.ok()) return Fail(err, "verify", sums);
  }
  auto bank = OpenBank(*config, std::move(*salter));
  if (!bank.ok()) return Fail(err, "verify", bank.status());
  absl::Status s = (*bank)->VerifyStoredLogs(out);
  s.Update((*bank)->VerifyTables(out));
  if (!s.ok()) return Fail(err, "verify", s);
  out << "all logs and tables verify\n";
  return 0;
}

}  // namespace hashbank
