#include "crypto/sodium_init.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>

namespace hashbank {

void EnsureSodiumInitialized() {
  // sodium_init() returns 0 on first success, 1 if already initialised, -1 on failure.
  static const bool initialised = [] {
    if (sodium_init() < 0) {
      std::fputs("hashbank: libsodium failed to initialise (no system randomness?); aborting\n", stderr);
      std::abort();
    }
    return true;
  }();
  static_cast<void>(initialised);
}

}  // namespace hashbank
