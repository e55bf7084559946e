// Environment: the process environment as a plain map, injected into NodeConfig::Load so tests never read or
// write the real one.
//
// ProcessEnvironment() copies the HASHBANK_* variables of this process (and nothing else: no PATH, no secrets
// of other programs) into a fresh map; reading the environment while another thread calls setenv() is
// undefined behaviour in POSIX, so call it once at startup. No errors.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace hashbank {

// Variable name -> value.
using Environment = std::map<std::string, std::string>;

// Every configuration override starts with this.
inline constexpr std::string_view kEnvironmentPrefix = "HASHBANK_";

// The HASHBANK_* variables of this process.
Environment ProcessEnvironment();

}  // namespace hashbank
