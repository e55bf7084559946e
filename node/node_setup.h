// Node start-up pieces shared by `hashbank serve`, `hashbank token create` and `hashbank backup`: the
// config with command-line overrides, the data directory, the federation salt and the TLS files generated on
// first start (embedded defaults), and the Bank.
#pragma once

#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "config/node_config.h"
#include "node/bank.h"
#include "node/federation_client.h"

namespace hashbank {

struct NodeOverrides {
  std::string config_path;  // "" = no file (or $HASHBANK_CONFIG)
  std::string data_dir;     // "" = from the config
  std::string listen;       // "" = from the config
};

// Config file + HASHBANK_* environment + flags, validated.
absl::StatusOr<NodeConfig> LoadNodeConfig(const NodeOverrides& overrides);

// Creates <data_dir> (mode 0700) if needed.
absl::Status EnsureDataDir(const NodeConfig& config);
// For commands that work on an existing node (token create, backup, verify, keys show): NotFound, naming the
// directory and what is missing, unless the data directory holds a node (its database, salt and log key).
// Such commands never create a node by accident.
absl::Status RequireExistingNode(const NodeConfig& config);
// The bank of an existing, stopped node (its config from `overrides`). FailedPrecondition while the node runs
// (its database is locked), the message ending with "(while it runs, <while_running>)".
absl::StatusOr<std::unique_ptr<Bank>> OpenStoppedNode(const NodeOverrides& overrides, std::string_view while_running,
                                                      std::ostream& err);

// Loads the salt file, or on first start (file absent, default path) generates a development salt and
// writes it with mode 0600. Writes one line about it to `log` (never the key).
absl::StatusOr<std::unique_ptr<Salter>> LoadOrCreateSalt(const NodeConfig& config, std::ostream& log);

// When the TLS paths are the defaults and absent: generates a development CA (<data_dir>/tls/ca.pem, .key)
// and a server certificate for localhost, 127.0.0.1, ::1 and the listen host. Explicit paths must exist.
absl::Status EnsureTlsFiles(const NodeConfig& config, std::ostream& log);

// <data_dir>/node.key: this node's Ed25519 log-signing key, generated (0600) on first start.
std::string SigningKeyPath(const NodeConfig& config);
absl::StatusOr<std::shared_ptr<const SigningKey>> LoadOrCreateSigningKey(const NodeConfig& config, std::ostream& log);

// Opens the bank with the node's signing key (created on first use; its line goes to stderr).
absl::StatusOr<std::unique_ptr<Bank>> OpenBank(const NodeConfig& config, std::unique_ptr<Salter> salter);
// The watch list's and the webhook outbox's options from the `webhooks` and `matching` sections (OpenBank's,
// and a reload's).
NotificationOptions NotificationOptionsFromConfig(const NodeConfig& config);

// Path of the admin token file written on first start.
std::string AdminTokenPath(const NodeConfig& config);

// A client of the running node's member API, for CLI commands that work on a running node (backup, import):
// the address `serve` recorded in <data_dir>/api.address (else api.listen; a wildcard host becomes
// 127.0.0.1), the CA in <data_dir>/tls/ca.pem, the admin token, JSON bodies. Errors: reading those files.
absl::StatusOr<std::unique_ptr<FederationClient>> RunningNodeClient(const NodeConfig& config,
                                                                    std::chrono::milliseconds timeout);

}  // namespace hashbank
