/* Typed loops for linear.c (see typed.h). */

/* C[b] (M x N) += A[b] (M x K) @ B[b] (K x N) for b < batch.
 * A(i, p) = A[b * sab + i * sam + p * sak], so A may be read transposed;
 * B and C are row-major (row stride N). The (row block, column block)
 * tiles of C are independent work items; inside one, a KB x NB tile of B
 * stays in cache while GEMM_MB rows of C are updated, 4 x 16 elements at a
 * time held in registers over the p loop. Every element of C adds its K
 * products in order p = 0..K-1, whatever the thread count. */
static void K(gemm)(int64_t batch, int64_t M, int64_t N, int64_t Kd, const T *A, int64_t sab, int64_t sam,
                    int64_t sak, const T *B, int64_t sbb, T *C, int64_t scb)
{
    if (batch == 0 || M == 0 || N == 0 || Kd == 0) return;
    const int64_t nib = (M + GEMM_MB - 1) / GEMM_MB, njb = (N + GEMM_NB - 1) / GEMM_NB;
    const int64_t items = batch * nib * njb;
    ED_PARALLEL_FOR_IF(items > 1 && batch * M * N * Kd > 65536)
    for (int64_t it = 0; it < items; it++) {
        const int64_t b = it / (nib * njb), ib = it / njb % nib, jb = it % njb;
        const int64_t i0 = ib * GEMM_MB, i1 = i0 + GEMM_MB < M ? i0 + GEMM_MB : M;
        const int64_t j0 = jb * GEMM_NB, j1 = j0 + GEMM_NB < N ? j0 + GEMM_NB : N;
        const T *a = A + b * sab, *bm = B + b * sbb;
        T *c = C + b * scb;
        for (int64_t p0 = 0; p0 < Kd; p0 += GEMM_KB) {
            const int64_t p1 = p0 + GEMM_KB < Kd ? p0 + GEMM_KB : Kd;
            int64_t i = i0;
            /* four rows at a time: a 4 x 16 tile of C stays in registers
             * over the p loop, each loaded B element feeding four products */
            for (; i + 4 <= i1; i += 4) {
                int64_t j = j0;
                for (; j + 16 <= j1; j += 16) {
                    T acc[4][16];
                    for (int r = 0; r < 4; r++)
                        for (int l = 0; l < 16; l++) acc[r][l] = c[(i + r) * N + j + l];
                    for (int64_t p = p0; p < p1; p++) {
                        const T *bp = bm + p * N + j;
                        const T a0 = a[i * sam + p * sak], a1 = a[(i + 1) * sam + p * sak];
                        const T a2 = a[(i + 2) * sam + p * sak], a3 = a[(i + 3) * sam + p * sak];
                        for (int l = 0; l < 16; l++) {
                            acc[0][l] += a0 * bp[l];
                            acc[1][l] += a1 * bp[l];
                            acc[2][l] += a2 * bp[l];
                            acc[3][l] += a3 * bp[l];
                        }
                    }
                    for (int r = 0; r < 4; r++)
                        for (int l = 0; l < 16; l++) c[(i + r) * N + j + l] = acc[r][l];
                }
                for (int r = 0; r < 4; r++) {
                    T *ci = c + (i + r) * N;
                    for (int64_t p = p0; p < p1; p++) {
                        const T av = a[(i + r) * sam + p * sak];
                        const T *bp = bm + p * N;
                        for (int64_t jj = j; jj < j1; jj++) ci[jj] += av * bp[jj];
                    }
                }
            }
            for (; i < i1; i++) {
                T *ci = c + i * N;
                for (int64_t p = p0; p < p1; p++) {
                    const T av = a[i * sam + p * sak];
                    const T *bp = bm + p * N;
                    for (int64_t j = j0; j < j1; j++) ci[j] += av * bp[j];
                }
            }
        }
    }
}

/* dst[b] (C x R) = src[b] (R x C)^T, in 32 x 32 tiles. */
static void K(transpose)(int64_t batch, int64_t R, int64_t Cn, const T *src, T *dst)
{
    const int64_t tr = (R + 31) / 32, tc = (Cn + 31) / 32, items = batch * tr * tc;
    ED_PARALLEL_FOR_IF(batch * R * Cn > 65536)
    for (int64_t it = 0; it < items; it++) {
        const int64_t b = it / (tr * tc), r0 = it / tc % tr * 32, c0 = it % tc * 32;
        const int64_t r1 = r0 + 32 < R ? r0 + 32 : R, c1 = c0 + 32 < Cn ? c0 + 32 : Cn;
        const T *s = src + b * R * Cn;
        T *d = dst + b * R * Cn;
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = c0; c < c1; c++) d[c * R + r] = s[r * Cn + c];
    }
}

/* y (M x N) rows = bias */
static void K(fill_rows)(int64_t M, int64_t N, const T *bias, T *y)
{
    ED_PARALLEL_FOR_IF(M * N > 65536)
    for (int64_t i = 0; i < M; i++) memcpy(y + i * N, bias, (size_t)N * sizeof(T));
}

/* gb[o] += sum over rows of gy[:, o], in double, rows in order; columns in
 * blocks of 256 are independent work items. */
static void K(bias_grad)(int64_t M, int64_t N, const T *gy, T *gb)
{
    const int64_t nb = (N + 255) / 256;
    ED_PARALLEL_FOR_IF(M * N > 65536 && nb > 1)
    for (int64_t blk = 0; blk < nb; blk++) {
        const int64_t o0 = blk * 256, o1 = o0 + 256 < N ? o0 + 256 : N;
        double acc[256] = { 0 };
        for (int64_t i = 0; i < M; i++)
            for (int64_t o = o0; o < o1; o++) acc[o - o0] += (double)gy[i * N + o];
        for (int64_t o = o0; o < o1; o++) gb[o] += (T)acc[o - o0];
    }
}
