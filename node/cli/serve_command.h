// `hashbank serve`: runs a node until SIGTERM/SIGINT, then drains in-flight requests and exits 0.
// `hashbank token create`: makes a bearer token while the node is stopped.
// `hashbank backup DIR`: a consistent RocksDB checkpoint of a stopped node (a running node: POST /v1/backup).
#pragma once

#include <ostream>
#include <string>

#include "node/node_setup.h"

namespace hashbank {

int RunServeCommand(const NodeOverrides& overrides, std::ostream& out, std::ostream& err);
int RunTokenCreateCommand(const NodeOverrides& overrides, const std::string& role, const std::string& name,
                          std::ostream& out, std::ostream& err);
int RunBackupCommand(const NodeOverrides& overrides, const std::string& dir, std::ostream& out, std::ostream& err);

}  // namespace hashbank
