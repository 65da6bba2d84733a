/* What the loops that move activations and gradients between NCHW and the
 * convolutions' layouts share (backend/onednn's layout.c, bn_nhwc.c, and
 * autograd/grad_layout.c; backend/fast/conv_head.c rounds as oneDNN's bf16
 * convolutions do): float32 -> bfloat16 rounding, and a 16x16 float32 tile
 * transposed in AVX-512 registers. */
#ifndef ED_CORE_TILE16_H
#define ED_CORE_TILE16_H

#include <stdint.h>
#include <string.h>

/* Round to nearest even, as vcvtneps2bf16 and oneDNN's reorder: NaN stays
 * a quiet NaN, float32 denormals become signed zero. */
static inline uint16_t ed__bf16_rne(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);   /* quiet NaN */
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);         /* denormal: signed zero, as the instruction */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* A bfloat16's float value (exact). */
static inline float ed__bf16_f(uint16_t b)
{
    const uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#if defined(__AVX512F__)
#include <immintrin.h>

/* 16 bfloat16s from p as floats (exact). */
static inline __m512 ed__load_bf16x16(const uint16_t *p)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

/* v rounded to bfloat16 and back, lane by lane as ed__bf16_rne. */
static inline __m512 ed__round_bf16x16(__m512 v)
{
#if defined(__AVX512BF16__)
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v)), 16));
#else
    const __m512i u = _mm512_castps_si512(v), hi = _mm512_set1_epi32((int)0xffff0000u);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_and_si512(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), hi);
    const __m512i mag = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(mag, _mm512_set1_epi32(0x7f800000));
    const __mmask16 den = _mm512_testn_epi32_mask(u, _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_mov_epi32(r, nan, _mm512_and_si512(_mm512_or_si512(u, _mm512_set1_epi32(0x400000)), hi));
    r = _mm512_mask_mov_epi32(r, den, _mm512_and_si512(u, _mm512_set1_epi32((int)0x80000000u)));
    return _mm512_castsi512_ps(r);
#endif
}

/* r[j] <- column j of the 16x16 tile whose rows are r[0..15]. */
static inline void ed__tr16(__m512 r[16])
{
    __m512 t[16];
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 4; k++) {
        __m512d a = _mm512_castps_pd(t[4 * k]), b = _mm512_castps_pd(t[4 * k + 1]);
        __m512d c = _mm512_castps_pd(t[4 * k + 2]), d = _mm512_castps_pd(t[4 * k + 3]);
        r[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* r[4k + m], lane L: column 4L + m of rows 4k..4k+3. */
    for (int m = 0; m < 4; m++) {
        __m512 a = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x44), a2 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xEE);
        __m512 b = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x44), b2 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xEE);
        t[m] = _mm512_shuffle_f32x4(a, b, 0x88);
        t[4 + m] = _mm512_shuffle_f32x4(a, b, 0xDD);
        t[8 + m] = _mm512_shuffle_f32x4(a2, b2, 0x88);
        t[12 + m] = _mm512_shuffle_f32x4(a2, b2, 0xDD);
    }
    for (int j = 0; j < 16; j++) r[j] = t[j];
}
#endif

#endif
