// Federation identities and log checks:
//   hashbank ca init --dir DIR                 a federation CA (ca.pem, ca.key) and federation salt (salt.json)
//   hashbank node init --ca DIR --id ID --host NAME [--host ...] [--ip IP ...] --out DIR
//                                              a node's Ed25519 log key, its mTLS certificate signed by the CA
//                                              (node id and hosts in its SANs), the CA certificate, the salt,
//                                              a config file and the node's public card
//   hashbank keys show [--data-dir D]          the node's public card: id, Ed25519 key, certificate fingerprint
//   hashbank verify DATA_DIR                   checks every stored log end to end (node stopped)
// Secret files are written 0600 and never overwritten. Each returns the process exit code.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "node/node_setup.h"

namespace hashbank {

int RunCaInitCommand(const std::string& dir, const std::string& name, std::ostream& out, std::ostream& err);

struct NodeInitOptions {
  std::string ca_dir;
  std::string id;
  std::vector<std::string> hosts;
  std::vector<std::string> ips;
  std::string out_dir;
};
int RunNodeInitCommand(const NodeInitOptions& options, std::ostream& out, std::ostream& err);

int RunKeysShowCommand(const NodeOverrides& overrides, std::ostream& out, std::ostream& err);
int RunVerifyCommand(const std::string& data_dir, const NodeOverrides& overrides, std::ostream& out, std::ostream& err);

}  // namespace hashbank
