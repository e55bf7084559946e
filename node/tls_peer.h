// The hashbank node id in a TLS peer's verified certificate (URI SAN "hashbank://node/<id>") and the
// certificate's SHA-256 (for pinning), for the federation listener and client. OpenSSL stays out of this
// header. Thread-safe (reads the handle only).
#pragma once

#include <string>

namespace hashbank {

// `ssl` is an OpenSSL SSL* after a completed handshake; "" if there is no certificate or no node id.
std::string TlsPeerNodeId(void* ssl);
// SHA-256 of the peer's certificate (DER), 64 lowercase hex digits; "" if there is no certificate.
std::string TlsPeerCertificateSha256(void* ssl);

}  // namespace hashbank
