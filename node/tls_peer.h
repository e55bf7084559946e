// The hashbank node id in a TLS peer's verified certificate (URI SAN "hashbank://node/<id>"), for the
// federation listener and client. OpenSSL stays out of this header.
#pragma once

#include <string>

namespace hashbank {

// `ssl` is an OpenSSL SSL* after a completed handshake; "" if there is no certificate or no node id.
std::string TlsPeerNodeId(void* ssl);

}  // namespace hashbank
