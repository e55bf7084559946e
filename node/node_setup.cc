#include "node/node_setup.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"
#include "config/listen_address.h"
#include "crypto/federation_salt.h"
#include "crypto/signing.h"
#include "crypto/x509.h"

namespace hashbank {

namespace fs = std::filesystem;

absl::StatusOr<NodeConfig> LoadNodeConfig(const NodeOverrides& overrides) {
  Environment env = ProcessEnvironment();
  std::string path = overrides.config_path;
  if (path.empty()) {
    if (const char* p = std::getenv("HASHBANK_CONFIG"); p != nullptr) path = p;
  }
  auto config = NodeConfig::Load(path, env);
  if (!config.ok()) return config.status();
  if (!overrides.data_dir.empty()) config->node.data_dir = overrides.data_dir;
  if (!overrides.listen.empty()) config->api.listen = overrides.listen;
  if (absl::Status s = config->Validate(); !s.ok()) return s;
  return config;
}

absl::Status EnsureDataDir(const NodeConfig& config) {
  std::error_code ec;
  fs::create_directories(config.node.data_dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", config.node.data_dir, ": ", ec.message()));
  ::chmod(config.node.data_dir.c_str(), 0700);
  return absl::OkStatus();
}

absl::Status RequireExistingNode(const NodeConfig& config) {
  const fs::path dir = config.node.data_dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir.string(), " is not a hashbank node's data directory (it does not exist); "
                                            "pass --data-dir or --config of an existing node, or start one with hashbank serve"));
  }
  const std::pair<fs::path, const char*> required[] = {
      {dir / "db" / "CURRENT", "db/CURRENT"}, {fs::path(config.SaltFilePath()), "the salt file"},
      {fs::path(SigningKeyPath(config)), "node.key"}};
  for (const auto& [path, what] : required) {
    if (!fs::exists(path, ec)) {
      return absl::NotFoundError(absl::StrCat(dir.string(), " is not a hashbank node's data directory (no ", what,
                                              "); pass --data-dir or --config of an existing node, or start one with "
                                              "hashbank serve"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Salter>> LoadOrCreateSalt(const NodeConfig& config, std::ostream& log) {
  const std::string path = config.SaltFilePath();
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (!config.salt.file.empty()) return absl::NotFoundError(absl::StrCat("salt.file: ", path, " does not exist"));
    auto id = FederationSalt::Generate("dev-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000));
    if (!id.ok()) return id.status();
    if (absl::Status s = WritePemFile(path, id->ToFileJson(), 0600); !s.ok()) return s;
    log << "hashbank: generated a development federation salt (id " << id->id << ") in " << path
        << "; a federation distributes its own salt out of band\n";
  }
  auto text = ReadTextFile(path, 64 * 1024);  // a salt that rotated many times carries its chain
  if (!text.ok()) return text.status();
  auto salt = FederationSalt::FromFileJson(*text, path);
  if (!salt.ok()) return salt.status();
  return std::make_unique<Salter>(*salt);
}

absl::Status EnsureTlsFiles(const NodeConfig& config, std::ostream& log) {
  const std::string cert = config.TlsCertPath(), key = config.TlsKeyPath();
  std::error_code ec;
  const bool have_cert = fs::exists(cert, ec), have_key = fs::exists(key, ec);
  if (have_cert && have_key) return absl::OkStatus();
  if (!config.api.tls_cert.empty() || !config.api.tls_key.empty()) {
    return absl::NotFoundError(absl::StrCat("api.tls_cert / api.tls_key: ", have_cert ? key : cert, " does not exist"));
  }
  const std::string dir = (fs::path(config.node.data_dir) / "tls").string();
  auto ca = CreateCertificateAuthority("hashbank development CA", std::chrono::days(3650));
  if (!ca.ok()) return ca.status();
  CertificateRequest req;
  req.common_name = "localhost";
  req.dns_names = {"localhost"};
  req.ip_addresses = {"127.0.0.1", "::1"};
  auto listen = ParseListenAddress(config.api.listen);
  if (listen.ok() && listen->host != "localhost" && listen->host != "127.0.0.1" && listen->host != "::1" &&
      listen->host != "0.0.0.0" && listen->host != "::") {
    unsigned char ip[16];
    if (::inet_pton(AF_INET, listen->host.c_str(), ip) == 1 || ::inet_pton(AF_INET6, listen->host.c_str(), ip) == 1) {
      req.ip_addresses.push_back(listen->host);
    } else {
      req.dns_names.push_back(listen->host);
    }
  }
  req.node_id = config.node.id;
  auto leaf = IssueCertificate(*ca, req);
  if (!leaf.ok()) return leaf.status();
  for (const auto& [path, pem, mode] : {std::tuple{dir + "/ca.key", ca->key_pem, 0600u}, std::tuple{dir + "/ca.pem", ca->cert_pem, 0644u},
                                        std::tuple{key, leaf->key_pem, 0600u}, std::tuple{cert, leaf->cert_pem, 0644u}}) {
    if (absl::Status s = WritePemFile(path, pem, mode); !s.ok()) return s;
  }
  log << "hashbank: generated a development CA and server certificate in " << dir
      << " (curl --cacert " << dir << "/ca.pem)\n";
  return absl::OkStatus();
}

std::string SigningKeyPath(const NodeConfig& config) { return (fs::path(config.node.data_dir) / "node.key").string(); }

absl::StatusOr<std::shared_ptr<const SigningKey>> LoadOrCreateSigningKey(const NodeConfig& config, std::ostream& log) {
  const std::string path = SigningKeyPath(config);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    auto key = SigningKey::Generate();
    if (!key.ok()) return key.status();
    if (absl::Status s = WriteSigningKeyFile(path, config.node.id, *key); !s.ok()) return s;
    log << "hashbank: generated this node's Ed25519 log-signing key in " << path << " (public key "
        << PublicKeyHex(key->public_key()) << ")\n";
  }
  auto loaded = ReadSigningKeyFile(path);
  if (!loaded.ok()) return loaded.status();
  if (loaded->node_id != config.node.id) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is the key of node \"", loaded->node_id,
                                                      "\" but node.id is \"", config.node.id, "\""));
  }
  return std::shared_ptr<const SigningKey>(std::make_shared<SigningKey>(std::move(loaded->key)));
}

NotificationOptions NotificationOptionsFromConfig(const NodeConfig& config) {
  NotificationOptions options;
  options.watch_days = static_cast<int>(config.webhooks.watch_days);
  options.retry_hours = config.webhooks.retry_hours;
  options.pdq_max_distance = static_cast<int>(config.matching.pdq_default_max_distance);
  options.max_watch_entries = config.webhooks.max_watch_entries;
  options.max_watch_entries_per_member = config.webhooks.max_watch_entries_per_member;
  const NodeConfig::MatchingSection& m = config.matching;
  options.video_rule.max_distance = static_cast<int>(m.video_max_distance);
  options.video_rule.min_quality = static_cast<int>(m.pdq_quality_floor);
  options.video_rule.query_match_percent = m.video_query_match_percent;
  options.video_rule.target_match_percent = m.video_target_match_percent;
  options.video_rule.range_match_percent = m.video_range_match_percent;
  options.video_rule.min_matched_seconds = m.video_min_matched_seconds;
  return options;
}

absl::StatusOr<std::unique_ptr<Bank>> OpenBank(const NodeConfig& config, std::unique_ptr<Salter> salter) {
  auto key = LoadOrCreateSigningKey(config, std::cerr);
  if (!key.ok()) return key.status();
  BankOptions options;
  options.signing_key = *key;
  options.data_dir = config.node.data_dir;
  options.node_id = config.node.id;
  options.pdq_quality_floor = static_cast<int>(config.matching.pdq_quality_floor);
  options.notifications = NotificationOptionsFromConfig(config);
  auto keep = KeepAtOrigin::FromNames(config.federation.keep_at_origin);
  if (!keep.ok()) return keep.status();
  options.keep_at_origin = *keep;
  auto bank = Bank::Open(std::move(options), std::move(salter));
  if (!bank.ok() && absl::IsUnavailable(bank.status()) &&
      std::string(bank.status().message()).find("lock") != std::string::npos) {
    return absl::FailedPreconditionError(absl::StrCat("the database in ", config.node.data_dir,
                                                      " is in use: is a node already running on it?"));
  }
  return bank;
}

absl::StatusOr<std::unique_ptr<Bank>> OpenStoppedNode(const NodeOverrides& overrides, std::string_view while_running,
                                                      std::ostream& err) {
  auto config = LoadNodeConfig(overrides);
  if (!config.ok()) return config.status();
  if (absl::Status s = RequireExistingNode(*config); !s.ok()) return s;
  auto salter = LoadOrCreateSalt(*config, err);
  if (!salter.ok()) return salter.status();
  auto bank = OpenBank(*config, std::move(*salter));
  if (!bank.ok() && absl::IsFailedPrecondition(bank.status())) {
    return absl::FailedPreconditionError(absl::StrCat(std::string(bank.status().message()), " (while it runs, ",
                                                      std::string(while_running), ")"));
  }
  return bank;
}

std::string AdminTokenPath(const NodeConfig& config) { return (fs::path(config.node.data_dir) / "admin.token").string(); }

absl::StatusOr<std::unique_ptr<FederationClient>> RunningNodeClient(const NodeConfig& config,
                                                                    std::chrono::milliseconds timeout) {
  auto token = ReadTextFile(AdminTokenPath(config), 4096);
  if (!token.ok()) return token.status();
  std::string admin = *token;
  while (!admin.empty() && std::isspace(static_cast<unsigned char>(admin.back()))) admin.pop_back();
  std::string address = config.api.listen;
  if (auto recorded = ReadTextFile((fs::path(config.node.data_dir) / "api.address").string(), 256); recorded.ok()) {
    address = *recorded;
    while (!address.empty() && std::isspace(static_cast<unsigned char>(address.back()))) address.pop_back();
  }
  auto listen = ParseListenAddress(address);
  if (!listen.ok()) return listen.status();
  std::string host = listen->host;
  if (host == "0.0.0.0" || host == "::") host = "127.0.0.1";
  FederationClientOptions options;
  options.ca_path = (fs::path(config.node.data_dir) / "tls" / "ca.pem").string();
  options.content_type = "application/json";
  options.authorization = "Bearer " + admin;
  options.timeout = timeout;
  return std::make_unique<FederationClient>(options, host, listen->port, config.node.id);
}

}  // namespace hashbank
