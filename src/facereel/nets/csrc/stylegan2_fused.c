/* facereel fused CPU kernels (opt-in, see facereel/nets/fused.py) for StyleGAN2's layers.
 *
 * up2_fir_post: the tail of an upsampling layer in one pass over memory.
 * Input: the four output phases of the stride-2 transposed 3x3 conv, P[r][s] (float32,
 * channels-last, each [rows, cols, C] contiguous), of a local window of L input rows and w input
 * columns.  Interleaved they are the transposed conv's output t, (2L + 1) x (2w + 1):
 *     t[2i + r][2j + s] = P[r][s][i][j],  P[0][*] has L + 1 rows, P[1][*] L;  P[*][0] w + 1 cols, P[*][1] w.
 * Output rows m0 .. m0 + nrows - 1 (local) of
 *     y[m][n][c] = act( scale[c] * sum_{a,b} f[a] f[b] t[m + a - 1][n + b - 1][c] + bias[c] + noise[m][n] )
 * clamped to [-clamp, clamp], with t zero outside its rows/columns (the FIR's padding of 1) and
 * act(v) = v > 0 ? v : slope * v.  f is the 4-tap FIR per axis, gain and flip already applied;
 * the 4x4 filter is separable, so each t row is filtered along the width once (kept in a ring of
 * four rows, [2w, C] each) and the four rows are combined along the height per output row.
 * Each output row is written once: no interleaved t, no FIR output, no post-op passes.
 * Output rows are split between nthreads POSIX threads.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const float *p[2][2];
    long L, w, C;
    float f[4];
    long m0;
    float *out;
    const float *bias, *scale, *noise;
    long noise_stride;
    float slope, clamp;
    long j0, j1;
    int failed;
} job_t;

/* t row tr filtered along the width: h[n][c] = sum_b f[b] t[tr][n + b - 1][c], n < 2w. */
static void filter_row(const job_t *J, long tr, float *restrict h) {
    const long w = J->w, C = J->C;
    if (tr < 0 || tr > 2 * J->L) {
        memset(h, 0, sizeof(float) * 2 * w * C);
        return;
    }
    const long r = tr & 1, i = tr >> 1;
    const float *restrict ev = J->p[r][0] + i * (w + 1) * C;   /* t columns 0, 2, ..., 2w */
    const float *restrict od = J->p[r][1] + i * w * C;         /* t columns 1, 3, ..., 2w - 1 */
    const float f0 = J->f[0], f1 = J->f[1], f2 = J->f[2], f3 = J->f[3];
    for (long q = 0; q < w; q++) {
        float *restrict h0 = h + 2 * q * C, *restrict h1 = h0 + C;
        const float *restrict e0 = ev + q * C, *restrict e1 = e0 + C, *restrict o0 = od + q * C;
        /* n = 2q reads t columns 2q - 1 .. 2q + 2 = od[q-1], ev[q], od[q], ev[q+1]. */
        if (q > 0) {
            const float *restrict om = o0 - C;
            for (long c = 0; c < C; c++) h0[c] = f0 * om[c] + f1 * e0[c] + f2 * o0[c] + f3 * e1[c];
        } else {
            for (long c = 0; c < C; c++) h0[c] = f1 * e0[c] + f2 * o0[c] + f3 * e1[c];
        }
        /* n = 2q + 1 reads t columns 2q .. 2q + 3 = ev[q], od[q], ev[q+1], od[q+1]. */
        if (q + 1 < w) {
            const float *restrict o1 = o0 + C;
            for (long c = 0; c < C; c++) h1[c] = f0 * e0[c] + f1 * o0[c] + f2 * e1[c] + f3 * o1[c];
        } else {
            for (long c = 0; c < C; c++) h1[c] = f0 * e0[c] + f1 * o0[c] + f2 * e1[c];
        }
    }
}

static void *run(void *arg) {
    job_t *J = arg;
    const long W = 2 * J->w, C = J->C, row = W * C;
    float *ring = malloc(sizeof(float) * 4 * row);
    if (!ring) {
        J->failed = 1;
        return NULL;
    }
    const float f0 = J->f[0], f1 = J->f[1], f2 = J->f[2], f3 = J->f[3];
    const float slope = J->slope, hi = J->clamp, lo = -J->clamp;
    const float *restrict sc = J->scale, *restrict bias = J->bias;
    long have = J->m0 + J->j0 - 2;           /* last t row filtered into the ring */
    for (long j = J->j0; j < J->j1; j++) {
        const long m = J->m0 + j;            /* y row m reads t rows m - 1 .. m + 2 */
        while (have < m + 2) {
            have++;
            filter_row(J, have, ring + ((have + 4) & 3) * row);
        }
        const float *restrict a0 = ring + ((m + 3) & 3) * row, *restrict a1 = ring + ((m + 4) & 3) * row;
        const float *restrict a2 = ring + ((m + 5) & 3) * row, *restrict a3 = ring + ((m + 6) & 3) * row;
        const float *restrict nz = J->noise ? J->noise + j * J->noise_stride : NULL;
        float *restrict y = J->out + j * row;
        for (long x = 0; x < W; x++) {
            const float nv = nz ? nz[x] : 0.0f;
            const long k = x * C;
            const float *restrict b0 = a0 + k, *restrict b1 = a1 + k, *restrict b2 = a2 + k, *restrict b3 = a3 + k;
            float *restrict yy = y + k;
            /* Written as selects so that gcc vectorises them (needs -fno-trapping-math). */
            if (sc) {
                for (long c = 0; c < C; c++) {
                    float v = (f0 * b0[c] + f1 * b1[c] + f2 * b2[c] + f3 * b3[c]) * sc[c] + (bias[c] + nv);
                    v = v > 0.0f ? v : v * slope;
                    v = v > lo ? v : lo;
                    yy[c] = v < hi ? v : hi;
                }
            } else {
                for (long c = 0; c < C; c++) {
                    float v = f0 * b0[c] + f1 * b1[c] + f2 * b2[c] + f3 * b3[c] + (bias[c] + nv);
                    v = v > 0.0f ? v : v * slope;
                    v = v > lo ? v : lo;
                    yy[c] = v < hi ? v : hi;
                }
            }
        }
    }
    free(ring);
    return NULL;
}

/* Returns 0 on success, -1 when a thread or buffer could not be made (nothing is then valid). */
int up2_fir_post(const float *p00, const float *p01, const float *p10, const float *p11,
                 long L, long w, long C, const float *f, long m0, long nrows, float *out,
                 const float *bias, const float *scale, const float *noise, long noise_stride,
                 float slope, float clamp, int nthreads) {
    enum { MAX_THREADS = 64 };
    job_t jobs[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
    if (nthreads > nrows) nthreads = (int)nrows;
    if (nthreads < 1) nthreads = 1;
    for (int k = 0; k < nthreads; k++) {
        job_t *J = &jobs[k];
        J->p[0][0] = p00; J->p[0][1] = p01; J->p[1][0] = p10; J->p[1][1] = p11;
        J->L = L; J->w = w; J->C = C;
        memcpy(J->f, f, sizeof J->f);
        J->m0 = m0; J->out = out; J->bias = bias; J->scale = scale;
        J->noise = noise; J->noise_stride = noise_stride; J->slope = slope; J->clamp = clamp;
        J->j0 = nrows * k / nthreads; J->j1 = nrows * (k + 1) / nthreads;
        J->failed = 0;
    }
    for (int k = 1; k < nthreads; k++)
        started[k] = pthread_create(&th[k], NULL, run, &jobs[k]) == 0;
    run(&jobs[0]);
    int failed = jobs[0].failed;
    for (int k = 1; k < nthreads; k++) {
        if (started[k]) {
            pthread_join(th[k], NULL);
            failed |= jobs[k].failed;
        } else {
            run(&jobs[k]);          /* no thread: do its rows here */
            failed |= jobs[k].failed;
        }
    }
    return failed ? -1 : 0;
}

/* post_rgb: the tail of a same-size layer plus the block's toRGB while each pixel is in registers.
 * src, y: [P, C] (channels-last pixels; y may be src), per pixel and channel
 *     v = act(src * scale[c] + bias[c] + noise[p]) clamped to [-clamp, clamp];  y = v
 * (scale, bias, noise may be NULL: 1, 0, 0), and when wr is given
 *     rgb[p][o] = clamp_rgb( sum_c wr[o][c] v[c] + br[o] ),  o < R
 * (toRGB's modulated 1x1 conv, bias and clamp; wr [R, C] row-major).  Pixels are split between
 * nthreads POSIX threads. */
typedef struct {
    const float *src;
    float *y;
    long p0, p1, C, R;
    const float *scale, *bias, *noise, *wr, *br;
    float slope, clamp, rgb_clamp;
    float *rgb;
} post_t;

typedef float v8 __attribute__((vector_size(32)));

static void *post_run(void *arg) {
    const post_t *J = arg;
    const long C = J->C, R = J->R;
    const float slope = J->slope, hi = J->clamp, lo = -J->clamp;
    const float rhi = J->rgb_clamp, rlo = -J->rgb_clamp;
    const float *restrict sc = J->scale, *restrict bias = J->bias, *restrict wr = J->wr;
    for (long p = J->p0; p < J->p1; p++) {
        const float *restrict xp = J->src + p * C;
        float *restrict yp = J->y + p * C;
        const float nv = J->noise ? J->noise[p] : 0.0f;
        if (sc && bias) {
            for (long c = 0; c < C; c++) {
                float v = xp[c] * sc[c] + (bias[c] + nv);
                v = v > 0.0f ? v : v * slope;
                v = v > lo ? v : lo;
                yp[c] = v < hi ? v : hi;
            }
        } else if (bias) {
            for (long c = 0; c < C; c++) {
                float v = xp[c] + (bias[c] + nv);
                v = v > 0.0f ? v : v * slope;
                v = v > lo ? v : lo;
                yp[c] = v < hi ? v : hi;
            }
        } else {
            for (long c = 0; c < C; c++) {
                float v = xp[c] + nv;
                v = v > 0.0f ? v : v * slope;
                v = v > lo ? v : lo;
                yp[c] = v < hi ? v : hi;
            }
        }
        if (!wr) continue;
        float *restrict out = J->rgb + p * R;
        for (long o = 0; o < R; o++) {
            const float *restrict wo = wr + o * C;
            long c = 0;
            float s = 0.0f;
            if (C >= 8) {
                /* eight partial sums: a vector FMA per 8 channels instead of a serial chain */
                v8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
                for (; c + 8 <= C; c += 8) {
                    v8 a, b;
                    memcpy(&a, yp + c, sizeof a);
                    memcpy(&b, wo + c, sizeof b);
                    acc += a * b;
                }
                s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            }
            for (; c < C; c++) s += yp[c] * wo[c];
            float v = s + J->br[o];
            v = v > rlo ? v : rlo;
            out[o] = v < rhi ? v : rhi;
        }
    }
    return NULL;
}

int post_rgb(const float *src, float *y, long P, long C, const float *scale, const float *bias, const float *noise,
             float slope, float clamp, const float *wr, const float *br, long R, float rgb_clamp,
             float *rgb, int nthreads) {
    enum { MAX_THREADS = 64 };
    post_t jobs[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
    if (P * C < (1L << 15)) nthreads = 1;          /* small maps: a thread costs more than it saves */
    if (nthreads < 1) nthreads = 1;
    for (int k = 0; k < nthreads; k++) {
        post_t *J = &jobs[k];
        J->src = src; J->y = y; J->C = C; J->R = R; J->scale = scale; J->bias = bias; J->noise = noise;
        J->wr = wr; J->br = br; J->slope = slope; J->clamp = clamp; J->rgb_clamp = rgb_clamp; J->rgb = rgb;
        J->p0 = P * k / nthreads; J->p1 = P * (k + 1) / nthreads;
    }
    for (int k = 1; k < nthreads; k++)
        started[k] = pthread_create(&th[k], NULL, post_run, &jobs[k]) == 0;
    post_run(&jobs[0]);
    for (int k = 1; k < nthreads; k++) {
        if (started[k]) pthread_join(th[k], NULL);
        else post_run(&jobs[k]);
    }
    return 0;
}
