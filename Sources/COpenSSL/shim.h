#ifndef TDEFS_COPENSSL_SHIM_H
#define TDEFS_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/err.h>
#include <openssl/crypto.h>

// Macros that do not import as Swift constants.
static const int TDEFS_EVP_CTRL_GCM_SET_IVLEN = EVP_CTRL_GCM_SET_IVLEN;
static const int TDEFS_EVP_CTRL_GCM_GET_TAG = EVP_CTRL_GCM_GET_TAG;
static const int TDEFS_EVP_CTRL_GCM_SET_TAG = EVP_CTRL_GCM_SET_TAG;
static const int TDEFS_EVP_CTRL_AEAD_SET_TAG = EVP_CTRL_AEAD_SET_TAG;
static const int TDEFS_EVP_CTRL_AEAD_GET_TAG = EVP_CTRL_AEAD_GET_TAG;

// KDFs through EVP_KDF. Each returns 1 on success.
static inline int tdefs_scrypt(const unsigned char *pass, size_t passlen, const unsigned char *salt,
        size_t saltlen, uint64_t n, uint32_t r, uint32_t p, unsigned char *out, size_t outlen) {
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    if (kdf == NULL) return 0;
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (kctx == NULL) return 0;
    uint64_t maxmem = 1ULL << 31;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pass, passlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end()
    };
    int ok = EVP_KDF_derive(kctx, out, outlen, params);
    EVP_KDF_CTX_free(kctx);
    return ok == 1;
}

static inline int tdefs_hkdf_sha256(const unsigned char *ikm, size_t ikmlen, const unsigned char *salt,
        size_t saltlen, const unsigned char *info, size_t infolen, unsigned char *out, size_t outlen) {
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL) return 0;
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (kctx == NULL) return 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen),
        OSSL_PARAM_construct_end()
    };
    int ok = EVP_KDF_derive(kctx, out, outlen, params);
    EVP_KDF_CTX_free(kctx);
    return ok == 1;
}

static inline int tdefs_sha256(const void *data, size_t len, unsigned char out[32]) {
    unsigned int outlen = 32;
    return EVP_Digest(data, len, out, &outlen, EVP_sha256(), NULL);
}
#endif
