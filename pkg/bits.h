/*  =========================================================================
    pkg_bits - piece bitmaps: bit i of byte i/8, most significant bit
    first (BitTorrent's order), at most PKG_PIECES_MAX bits.
    ========================================================================= */
#ifndef PKG_BITS_H_INCLUDED
#define PKG_BITS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKG_BITS_BYTES(n) (((size_t) (n) + 7) / 8)

static inline bool
pkg_bit_get (const uint8_t *bits, uint32_t i)
{
    return (bits[i >> 3] >> (7 - (i & 7))) & 1;
}

static inline void
pkg_bit_set (uint8_t *bits, uint32_t i, bool on)
{
    if (on)
        bits[i >> 3] |= (uint8_t) (0x80 >> (i & 7));
    else
        bits[i >> 3] &= (uint8_t) ~(0x80 >> (i & 7));
}

static inline uint32_t
pkg_bits_count (const uint8_t *bits, uint32_t n)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < n / 8; i++)
        c += (uint32_t) __builtin_popcount (bits[i]);
    for (uint32_t i = n & ~7u; i < n; i++)
        c += pkg_bit_get (bits, i);
    return c;
}

//  Set the first n bits, clear the rest of the bytes that hold them.
static inline void
pkg_bits_fill (uint8_t *bits, uint32_t n)
{
    for (uint32_t i = 0; i < PKG_BITS_BYTES (n); i++)
        bits[i] = 0;
    for (uint32_t i = 0; i < n; i++)
        pkg_bit_set (bits, i, true);
}

#endif
