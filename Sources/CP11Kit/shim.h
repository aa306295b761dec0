/* p11-kit: PKCS#11 module loading and RFC 7512 URIs (the PKCS#11 key source). Its pkcs11.h
   defines CK_PTR and friends for this platform. */
#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>
#include <p11-kit/pkcs11.h>

/* CK_GCM_PARAMS of PKCS#11 2.40 (ulIvBits included), as SoftHSM2 and most tokens read it. */
static inline CK_GCM_PARAMS tdefs_gcm_params(unsigned char *iv, unsigned long ivLen, unsigned char *aad,
                                             unsigned long aadLen, unsigned long tagBits) {
    CK_GCM_PARAMS p;
    p.pIv = iv; p.ulIvLen = ivLen; p.ulIvBits = ivLen * 8;
    p.pAAD = aad; p.ulAADLen = aadLen; p.ulTagBits = tagBits;
    return p;
}
