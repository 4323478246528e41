/*
 * sha256.h - internal: SHA-256 (FIPS 180-4), for model checksums.
 */
#ifndef S2S_SHA256_H
#define S2S_SHA256_H

#include <stddef.h>

/* Writes the lower-case hex digest of data[0..len) into hex (65 bytes incl. NUL). */
void s2s__sha256_hex(const void *data, size_t len, char hex[65]);

#endif
