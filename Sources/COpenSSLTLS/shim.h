#ifndef TDEFS_COPENSSLTLS_SHIM_H
#define TDEFS_COPENSSLTLS_SHIM_H
// OpenSSL libssl for the KMIP key source's mutual TLS (Sources/TDEFSCore/KMIP/KMIPConnection.swift).
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>

// Macros that do not import into Swift.
static inline int tdefs_ssl_ctx_min_tls12(SSL_CTX *ctx) { return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION); }
/* Records are decrypted into buffers that OpenSSL frees; with this it zeroes them first (a key's
   Decrypt answer passes through them). OpenSSL 3.0 and later. */
static inline void tdefs_ssl_ctx_cleanse_plaintext(SSL_CTX *ctx) { SSL_CTX_set_options(ctx, SSL_OP_CLEANSE_PLAINTEXT); }

// The name the server's certificate must carry: an IP address (subjectAltName IP) or a host name
// (also sent as SNI). Returns 1 on success.
// The subject's CN is never taken for a missing DNS subjectAltName.
static inline int tdefs_ssl_expect_peer(SSL *ssl, const char *name) {
    unsigned char buf[16];
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    if (inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1) {
        return X509_VERIFY_PARAM_set1_ip_asc(param, name);
    }
    if (SSL_set_tlsext_host_name(ssl, name) != 1) return 0;
    return SSL_set1_host(ssl, name);
}

// An encrypted client key is refused instead of prompting on the terminal (a daemon has none).
static int tdefs_ssl_no_password(char *buf, int size, int rwflag, void *u) { (void)buf; (void)size; (void)rwflag; (void)u; return 0; }
static inline void tdefs_ssl_ctx_no_password_prompt(SSL_CTX *ctx) { SSL_CTX_set_default_passwd_cb(ctx, tdefs_ssl_no_password); }

// The first queued OpenSSL error as text (no key material is ever in it), and clears the queue.
static inline void tdefs_ssl_error_text(char *buf, size_t len) {
    unsigned long e = ERR_get_error();
    if (e == 0) { if (len) buf[0] = 0; } else { ERR_error_string_n(e, buf, len); }
    ERR_clear_error();
}
#endif
