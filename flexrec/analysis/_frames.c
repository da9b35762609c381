/* One read of interleaved 16-bit PCM: every frame's smallest and largest sample and its sum of
 * squares, per channel (flexrec.analysis.frames; numpy gives the same figures when this module
 * is not built).
 *
 * The sums are exact (64-bit integers, then rounded once to float32), so any order of adding
 * gives the same float: that is what lets a vectorised loop and numpy's own agree bit for bit.
 *
 * On x86-64 an AVX2 loop is chosen at run time when the CPU has it (the module itself is built
 * for the baseline, so one build runs on any x86-64); elsewhere, and for more than two channels,
 * a plain loop. The GIL is released while the samples are read: the archive's jobs run beside
 * the service's threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define FRAMES_X86 1
#include <immintrin.h>
#endif

typedef struct {
    const int16_t *pcm;   /* frames * frame_samples * channels, interleaved */
    Py_ssize_t channels;
    Py_ssize_t frame_samples;
    Py_ssize_t frames;
    Py_ssize_t stride;    /* elements between one channel's row and the next in low/high */
    int16_t *low;         /* (channels, stride) */
    int16_t *high;
    float *sums;          /* (channels, frames): each frame's sum of squares */
} Pass;

static void pass_plain(const Pass *p) {
    const Py_ssize_t c = p->channels, f = p->frame_samples;
    for (Py_ssize_t k = 0; k < p->frames; k++) {
        const int16_t *frame = p->pcm + k * f * c;
        for (Py_ssize_t ch = 0; ch < c; ch++) {
            int16_t lo = INT16_MAX, hi = INT16_MIN;
            uint64_t sum = 0;
            for (Py_ssize_t i = 0; i < f; i++) {
                int32_t x = frame[i * c + ch];
                lo = x < lo ? (int16_t)x : lo;
                hi = x > hi ? (int16_t)x : hi;
                sum += (uint64_t)(x * x);
            }
            p->low[ch * p->stride + k] = lo;
            p->high[ch * p->stride + k] = hi;
            p->sums[ch * p->frames + k] = (float)sum;
        }
    }
}

#ifdef FRAMES_X86
/* Sixteen samples a step. vpmaddwd adds two squares into 32 bits (at most 2^31, so read as
 * unsigned); those are widened to 64-bit lanes before any further sum. */
__attribute__((target("avx2"))) static inline void add_squares(__m256i v, __m256i *even,
                                                                __m256i *odd) {
    const __m256i low32 = _mm256_set1_epi64x(0xffffffffLL);
    __m256i sq = _mm256_madd_epi16(v, v);
    *even = _mm256_add_epi64(*even, _mm256_and_si256(sq, low32));
    *odd = _mm256_add_epi64(*odd, _mm256_srli_epi64(sq, 32));
}

__attribute__((target("avx2"))) static void pass_stereo_avx2(const Pass *p) {
    const Py_ssize_t f = p->frame_samples, steps = f / 8;
    /* Each 128-bit half: four left samples, then four right ones. */
    const __m256i split = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                           0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    for (Py_ssize_t k = 0; k < p->frames; k++) {
        const int16_t *frame = p->pcm + k * f * 2;
        __m256i lo = _mm256_set1_epi16(INT16_MAX), hi = _mm256_set1_epi16(INT16_MIN);
        __m256i even = _mm256_setzero_si256(), odd = _mm256_setzero_si256();
        for (Py_ssize_t s = 0; s < steps; s++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(frame + s * 16));
            v = _mm256_shuffle_epi8(v, split);
            lo = _mm256_min_epi16(lo, v);
            hi = _mm256_max_epi16(hi, v);
            add_squares(v, &even, &odd);
        }
        /* Halves folded: 16-bit lanes 0-3 left, 4-7 right; 64-bit lane 0 left, 1 right. */
        __m128i l = _mm_min_epi16(_mm256_castsi256_si128(lo), _mm256_extracti128_si256(lo, 1));
        __m128i h = _mm_max_epi16(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1));
        l = _mm_min_epi16(l, _mm_shuffle_epi32(l, _MM_SHUFFLE(2, 3, 0, 1)));
        h = _mm_max_epi16(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1)));
        l = _mm_min_epi16(l, _mm_shufflehi_epi16(_mm_shufflelo_epi16(l, 0xB1), 0xB1));
        h = _mm_max_epi16(h, _mm_shufflehi_epi16(_mm_shufflelo_epi16(h, 0xB1), 0xB1));
        __m256i both = _mm256_add_epi64(even, odd);
        __m128i sums = _mm_add_epi64(_mm256_castsi256_si128(both),
                                     _mm256_extracti128_si256(both, 1));
        int16_t lmin = (int16_t)_mm_extract_epi16(l, 0), rmin = (int16_t)_mm_extract_epi16(l, 4);
        int16_t lmax = (int16_t)_mm_extract_epi16(h, 0), rmax = (int16_t)_mm_extract_epi16(h, 4);
        uint64_t lsum = (uint64_t)_mm_cvtsi128_si64(sums);
        uint64_t rsum = (uint64_t)_mm_extract_epi64(sums, 1);
        for (Py_ssize_t i = steps * 8; i < f; i++) { /* frames not a multiple of 8 samples */
            int32_t a = frame[2 * i], b = frame[2 * i + 1];
            lmin = a < lmin ? (int16_t)a : lmin;
            lmax = a > lmax ? (int16_t)a : lmax;
            rmin = b < rmin ? (int16_t)b : rmin;
            rmax = b > rmax ? (int16_t)b : rmax;
            lsum += (uint64_t)(a * a);
            rsum += (uint64_t)(b * b);
        }
        p->low[k] = lmin;
        p->high[k] = lmax;
        p->low[p->stride + k] = rmin;
        p->high[p->stride + k] = rmax;
        p->sums[k] = (float)lsum;
        p->sums[p->frames + k] = (float)rsum;
    }
}

__attribute__((target("avx2"))) static void pass_mono_avx2(const Pass *p) {
    const Py_ssize_t f = p->frame_samples, steps = f / 16;
    for (Py_ssize_t k = 0; k < p->frames; k++) {
        const int16_t *frame = p->pcm + k * f;
        __m256i lo = _mm256_set1_epi16(INT16_MAX), hi = _mm256_set1_epi16(INT16_MIN);
        __m256i even = _mm256_setzero_si256(), odd = _mm256_setzero_si256();
        for (Py_ssize_t s = 0; s < steps; s++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(frame + s * 16));
            lo = _mm256_min_epi16(lo, v);
            hi = _mm256_max_epi16(hi, v);
            add_squares(v, &even, &odd);
        }
        __m128i l = _mm_min_epi16(_mm256_castsi256_si128(lo), _mm256_extracti128_si256(lo, 1));
        __m128i h = _mm_max_epi16(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1));
        /* minpos finds the smallest unsigned lane: flipping the sign bit orders signed ones. */
        const __m128i sign = _mm_set1_epi16(INT16_MIN);
        const __m128i top = _mm_set1_epi16(INT16_MAX);
        int least = _mm_cvtsi128_si32(_mm_minpos_epu16(_mm_xor_si128(l, sign))) & 0xFFFF;
        int most = _mm_cvtsi128_si32(_mm_minpos_epu16(_mm_sub_epi16(top, h))) & 0xFFFF;
        int16_t mn = (int16_t)(least ^ 0x8000), mx = (int16_t)(INT16_MAX - most);
        __m256i both = _mm256_add_epi64(even, odd);
        __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(both), _mm256_extracti128_si256(both, 1));
        uint64_t sum = (uint64_t)_mm_cvtsi128_si64(s2) + (uint64_t)_mm_extract_epi64(s2, 1);
        for (Py_ssize_t i = steps * 16; i < f; i++) {
            int32_t x = frame[i];
            mn = x < mn ? (int16_t)x : mn;
            mx = x > mx ? (int16_t)x : mx;
            sum += (uint64_t)(x * x);
        }
        p->low[k] = mn;
        p->high[k] = mx;
        p->sums[k] = (float)sum;
    }
}
#endif

static int has_avx2(void) {
#ifdef FRAMES_X86
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return known;
#else
    return 0;
#endif
}

static void run_pass(const Pass *p, int vector) {
#ifdef FRAMES_X86
    if (vector && p->channels == 2) {
        pass_stereo_avx2(p);
        return;
    }
    if (vector && p->channels == 1) {
        pass_mono_avx2(p);
        return;
    }
#else
    (void)vector;
#endif
    pass_plain(p);
}

static int take(PyObject *obj, Py_buffer *view, int writable) {
    return PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0));
}

PyDoc_STRVAR(frame_pass_doc,
             "frame_pass(pcm, channels, frame_samples, frames, low, high, sums, stride, vector)\n"
             "--\n\n"
             "Per channel and whole frame of interleaved int16 `pcm`: smallest and largest sample\n"
             "into `low`/`high` (int16, rows `stride` apart) and the exact sum of squares rounded\n"
             "to float32 into `sums` (channels, frames). `vector`: use SIMD where the CPU has it.");

static PyObject *frame_pass(PyObject *self, PyObject *args) {
    PyObject *pcm_obj, *low_obj, *high_obj, *sums_obj;
    Py_ssize_t channels, frame_samples, frames, stride;
    int vector;
    (void)self;
    if (!PyArg_ParseTuple(args, "OnnnOOOnp", &pcm_obj, &channels, &frame_samples, &frames,
                          &low_obj, &high_obj, &sums_obj, &stride, &vector)) {
        return NULL;
    }
    if (channels < 1 || frame_samples < 1 || frames < 0 || stride < frames) {
        PyErr_SetString(PyExc_ValueError, "frame_pass: bad shape");
        return NULL;
    }
    Py_buffer pcm, low, high, sums;
    if (take(pcm_obj, &pcm, 0) < 0) {
        return NULL;
    }
    if (take(low_obj, &low, 1) < 0) {
        PyBuffer_Release(&pcm);
        return NULL;
    }
    if (take(high_obj, &high, 1) < 0) {
        PyBuffer_Release(&pcm);
        PyBuffer_Release(&low);
        return NULL;
    }
    if (take(sums_obj, &sums, 1) < 0) {
        PyBuffer_Release(&pcm);
        PyBuffer_Release(&low);
        PyBuffer_Release(&high);
        return NULL;
    }
    PyObject *result = NULL;
    if (pcm.len < frames * frame_samples * channels * 2 || low.len < channels * stride * 2 ||
        high.len < channels * stride * 2 || sums.len < channels * frames * 4) {
        PyErr_SetString(PyExc_ValueError, "frame_pass: a buffer is too small for its shape");
    } else {
        Pass p = {(const int16_t *)pcm.buf, channels, frame_samples, frames, stride,
                  (int16_t *)low.buf, (int16_t *)high.buf, (float *)sums.buf};
        int use_vector = vector && has_avx2();
        Py_BEGIN_ALLOW_THREADS
        run_pass(&p, use_vector);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&pcm);
    PyBuffer_Release(&low);
    PyBuffer_Release(&high);
    PyBuffer_Release(&sums);
    return result;
}

PyDoc_STRVAR(vector_doc, "vector() -> bool\n--\n\nWhether this CPU runs the SIMD loop.");

static PyObject *vector(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyBool_FromLong(has_avx2());
}

static PyMethodDef methods[] = {
    {"frame_pass", frame_pass, METH_VARARGS, frame_pass_doc},
    {"vector", vector, METH_NOARGS, vector_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_frames", "Frame extremes and powers in one read (see _frames.c).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__frames(void) { return PyModule_Create(&module); }
