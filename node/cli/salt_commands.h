// `hashbank salt rotate` and `hashbank salt apply`: a federation's salt rotation (node/salt_rotation.h,
// docs/operators.md "Rotating the salt").
//
// rotate: reads the federation's current salt file and writes the next salt (a fresh random key and id, the
// current salt's exact-hash key appended to the exact chain) to a new file, mode 0600, never over an existing
// one. Done once, by whoever keeps the federation's salt; the file is then handed to every member out of band.
// apply: on a stopped node, re-publishes the node's own signals under the new salt and moves its local state
// (ApplySaltRotation), then installs the new salt file in place of the node's salt file. Resumable.
//
// Both print what they did to `out` and an error naming the problem to `err`; exit 0 or 1.
#pragma once

#include <ostream>
#include <string>

#include "node/node_setup.h"

namespace hashbank {

int RunSaltRotateCommand(const std::string& current_path, const std::string& out_path, std::ostream& out,
                         std::ostream& err);
int RunSaltApplyCommand(const NodeOverrides& overrides, const std::string& new_salt_path, std::ostream& out,
                        std::ostream& err);

}  // namespace hashbank
