#ifndef ORCH_COPENSSL_SHIM_H
#define ORCH_COPENSSL_SHIM_H
#include <openssl/sha.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#endif
