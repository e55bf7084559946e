#include "config/environment.h"

#include <unistd.h>  // environ (g++ always defines _GNU_SOURCE)

#include <cstring>

namespace hashbank {

Environment ProcessEnvironment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view line(*entry);
    if (!line.starts_with(kEnvironmentPrefix)) continue;
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;  // not NAME=VALUE: nothing to read
    // If a name occurs twice (possible with execve), the first one wins, as in getenv().
    env.emplace(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  }
  return env;
}

}  // namespace hashbank
