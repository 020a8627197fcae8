#ifndef ORCH_COPENSSL_SHIM_H
#define ORCH_COPENSSL_SHIM_H
// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, but the one-shot EVP
// paths cost 2-6x more per call (a provider fetch or a context allocation each time), and a token
// lookup on every request is one SHA-256 of ~50 bytes.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

static inline void orch_sha256(const void *data, size_t count, unsigned char *out) {
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, data, count);
    SHA256_Final(out, &context);
}
#endif
