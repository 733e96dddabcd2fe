// OpenSSL's libcrypto, for FlexMiner's test oracle and benchmark baseline only.
// The low-level SHA256_* calls are deprecated in OpenSSL 3 but are exactly what a midstate-reusing
// baseline needs (EVP has no cheap context copy), so silence the deprecation.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <openssl/opensslv.h>
#include <openssl/crypto.h>
