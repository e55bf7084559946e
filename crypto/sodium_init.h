// EnsureSodiumInitialized: runs sodium_init() once per process before this module's first libsodium call.
//
// Every function in crypto/ that touches libsodium calls it first; callers outside the module never need to.
// Thread-safe (a function-local static). libsodium fails to initialise only when the host cannot provide
// system randomness, which no caller can recover from, so that case aborts with a message on stderr.
#pragma once

namespace hashbank {

void EnsureSodiumInitialized();

}  // namespace hashbank
