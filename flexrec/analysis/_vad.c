/* The voice activity detector's per-frame work in C (flexrec.analysis.vad; numpy makes the
 * same decisions when this module is not built).
 *
 * Three calls per channel, around the two transcendental steps that stay in numpy (log10 of
 * each frame's power, and 10**x of each block's floor): numpy's SIMD versions of those do not
 * round as libm does, so computing them here would change decisions. Everything here is
 * comparisons and IEEE arithmetic (+ - * / sqrt), each operation rounded where numpy rounds it
 * (float32 where numpy works in float32, the window sums' running totals in float64 added in
 * numpy's order), so the decisions are the same bit for bit. That needs no fused multiply-add:
 * the build passes -ffp-contract=off (the pragma below is for clang).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

static int take(PyObject *obj, Py_buffer *view, int writable) {
    return PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0));
}

static void release(Py_buffer *views, int count) {
    for (int i = 0; i < count; i++) {
        PyBuffer_Release(&views[i]);
    }
}

/* Every buffer in `objs` taken (the last `writable` of them writable); on failure none kept. */
static int take_all(PyObject **objs, Py_buffer *views, int count, int writable) {
    for (int i = 0; i < count; i++) {
        if (take(objs[i], &views[i], i >= count - writable) < 0) {
            release(views, i);
            return -1;
        }
    }
    return 0;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The `pick`-th smallest (from 0) of the `n` values above `silence`, as np.sort then an index
 * finds it: the smallest pick + 1 kept in order while the values pass (a block's tenth
 * percentile is its third), or all of them sorted where that is many. */
static float pick_smallest(const float *values, Py_ssize_t n, float silence, Py_ssize_t pick,
                           float *buf) {
    Py_ssize_t kept = 0;
    if (pick < 16) {
        for (Py_ssize_t i = 0; i < n; i++) {
            float x = values[i];
            if (!(x > silence) || (kept > pick && !(x < buf[pick]))) {
                continue;
            }
            Py_ssize_t j = kept <= pick ? kept++ : pick;
            for (; j > 0 && buf[j - 1] > x; j--) {
                buf[j] = buf[j - 1];
            }
            buf[j] = x;
        }
        return buf[pick];
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (values[i] > silence) {
            buf[kept++] = values[i];
        }
    }
    qsort(buf, (size_t)kept, sizeof(float), cmp_float);
    return buf[pick];
}

PyDoc_STRVAR(block_floors_doc,
             "block_floors(energy_db, per_block, percentile, silence_dbfs, half, min_level_dbfs, "
             "out)\n--\n\n"
             "Each block's noise floor into `out` (float32, one per block of `per_block` frames):\n"
             "the `percentile` of the block's frames louder than `silence_dbfs`, then the least\n"
             "of the blocks `half` either side; `min_level_dbfs` where no frame sounds.");

static PyObject *block_floors(PyObject *self, PyObject *args) {
    PyObject *objs[2];
    Py_ssize_t per_block, half;
    double percentile, silence_dbfs, min_level_dbfs;
    (void)self;
    if (!PyArg_ParseTuple(args, "OnddndO", &objs[0], &per_block, &percentile, &silence_dbfs,
                          &half, &min_level_dbfs, &objs[1])) {
        return NULL;
    }
    if (per_block < 1 || half < 0) {
        PyErr_SetString(PyExc_ValueError, "block_floors: bad shape");
        return NULL;
    }
    Py_buffer v[2];
    if (take_all(objs, v, 2, 1) < 0) {
        return NULL;
    }
    const Py_ssize_t n = v[0].len / 4, blocks = (n + per_block - 1) / per_block;
    if (v[1].len < blocks * 4) {
        release(v, 2);
        PyErr_SetString(PyExc_ValueError, "block_floors: `out` is too small");
        return NULL;
    }
    const float *energy = v[0].buf;
    float *out = v[1].buf;
    const float silence = (float)silence_dbfs;
    float *kept = PyMem_RawMalloc((size_t)(per_block + blocks) * sizeof(float));
    if (kept == NULL) {
        release(v, 2);
        return PyErr_NoMemory();
    }
    float *raw = kept + per_block;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t b = 0; b < blocks; b++) {
        Py_ssize_t count = 0, end = b * per_block + per_block < n ? b * per_block + per_block : n;
        for (Py_ssize_t i = b * per_block; i < end; i++) {
            if (energy[i] > silence) { /* NaN is not: numpy's np.where sends it to inf too */
                count++;
            }
        }
        /* numpy: min(int64(finite * percentile / 100.0), max(finite - 1, 0)) in float64. */
        int64_t pick = (int64_t)((double)count * percentile / 100.0);
        int64_t last = count > 0 ? (int64_t)count - 1 : 0;
        pick = pick < last ? pick : last;
        raw[b] = count > 0 ? pick_smallest(energy + b * per_block, end - b * per_block, silence,
                                           (Py_ssize_t)pick, kept)
                           : INFINITY;
    }
    const float floor_min = (float)min_level_dbfs;
    for (Py_ssize_t b = 0; b < blocks; b++) {
        float least = INFINITY;
        for (Py_ssize_t j = b - half; j <= b + half; j++) {
            if (j >= 0 && j < blocks && raw[j] < least) {
                least = raw[j];
            }
        }
        out[b] = isfinite(least) ? least : floor_min;
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(kept);
    release(v, 2);
    Py_RETURN_NONE;
}

typedef struct {
    const float *energy, *power, *floor, *floor_power; /* floor and its power: per block */
    Py_ssize_t frames, per_block, width;
    float snr_db, min_level_dbfs, music_min_snr_db, music_max_cv, music_min_active;
    uint8_t *candidate, *music; /* candidate: speech once the music is taken out */
} Frames;

/* numpy's np.maximum(x, 0): NaN stays NaN. */
static inline float at_least_zero(float x) { return x < 0.0f ? 0.0f : x; }

/* The music test (vad._music_frames): windows of `width` frames that are loud throughout and
 * barely modulated; a candidate frame any such window covers is music. Returns -1 when out of
 * memory. */
static int music_frames(const Frames *p, const float *amplitude, const uint8_t *sounding) {
    const Py_ssize_t n = p->frames, w = p->width;
    memset(p->music, 0, (size_t)n);
    if (n < w) {
        return 0;
    }
    /* Prefix sums as numpy's float64 cumsum adds them, one value after another. */
    double *sums = malloc((size_t)(2 * (n + 1)) * sizeof(double));
    int32_t *counts = malloc((size_t)(n + 1) * sizeof(int32_t)); /* frames < 2**31: checked */
    uint8_t *steady = malloc((size_t)n + 1);
    if (sums == NULL || counts == NULL || steady == NULL) {
        free(sums);
        free(counts);
        free(steady);
        return -1;
    }
    double *squares = sums + n + 1;
    sums[0] = squares[0] = 0.0;
    counts[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) { /* sequential: numpy's cumsum adds in this order */
        float a = amplitude[i];
        float a2 = a * a;
        sums[i + 1] = sums[i] + (double)a;
        squares[i + 1] = squares[i] + (double)a2;
        counts[i + 1] = counts[i] + sounding[i];
    }
    const float width = (float)w;
    const Py_ssize_t windows = n - w + 1;
    /* Each window's verdict first, in a loop without branches the compiler vectorises; the
     * float steps round as numpy's float32 arrays do. */
    for (Py_ssize_t s = 0; s < windows; s++) {
        float share = (float)(counts[s + w] - counts[s]) / width;
        float mean = (float)(sums[s + w] - sums[s]) / width;
        float mean_sq = (float)(squares[s + w] - squares[s]) / width;
        float mean2 = mean * mean;
        float spread = sqrtf(at_least_zero(mean_sq - mean2));
        float cv = spread / (mean < 1e-9f ? 1e-9f : mean);
        steady[s] = (uint8_t)((share >= p->music_min_active) & (cv < p->music_max_cv));
    }
    Py_ssize_t last_steady = -1; /* the latest steady window starting at or before frame i */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i < windows && steady[i]) {
            last_steady = i;
        }
        p->music[i] = (uint8_t)(last_steady >= 0 && last_steady > i - w && p->candidate[i]);
    }
    free(sums);
    free(counts);
    free(steady);
    return 0;
}

static int run_frames(const Frames *p) {
    const Py_ssize_t n = p->frames;
    float *amplitude = malloc((size_t)n * sizeof(float) + 1);
    uint8_t *sounding = malloc((size_t)n + 1);
    if (amplitude == NULL || sounding == NULL) {
        free(amplitude);
        free(sounding);
        return -1;
    }
    int any = 0;
    for (Py_ssize_t start = 0; start < n; start += p->per_block) {
        const Py_ssize_t b = start / p->per_block;
        const Py_ssize_t end = start + p->per_block < n ? start + p->per_block : n;
        const float floor = p->floor[b], floor_power = p->floor_power[b];
        const float above = floor + p->snr_db, sounding_at = floor + p->music_min_snr_db;
        for (Py_ssize_t i = start; i < end; i++) {
            const float energy = p->energy[i];
            uint8_t cand = (uint8_t)((energy > above) & (energy > p->min_level_dbfs));
            p->candidate[i] = cand;
            any |= cand;
            sounding[i] = (uint8_t)(energy > sounding_at);
            amplitude[i] = sqrtf(at_least_zero(p->power[i] - floor_power));
        }
    }
    int rc = 0;
    if (any) {
        rc = music_frames(p, amplitude, sounding);
        for (Py_ssize_t i = 0; i < n; i++) {
            p->candidate[i] &= (uint8_t)!p->music[i]; /* speech: a candidate that is not music */
        }
    } else {
        memset(p->music, 0, (size_t)n);
    }
    free(amplitude);
    free(sounding);
    return rc;
}

PyDoc_STRVAR(
    speech_frames_doc,
    "speech_frames(energy_db, power, floor, floor_power, per_block, snr_db, min_level_dbfs,\n"
    "              music_min_snr_db, width, music_max_cv, music_min_active, speech, music)\n"
    "--\n\n"
    "Per frame into the two bool arrays: music (a candidate, louder than the block's floor by\n"
    "`snr_db` and than `min_level_dbfs`, covered by a steady window of `width` frames) and\n"
    "speech (a candidate that is not music). `floor` and `floor_power` (float32) have one\n"
    "value per block of `per_block` frames.");

static PyObject *speech_frames(PyObject *self, PyObject *args) {
    PyObject *objs[6];
    Py_ssize_t per_block, width;
    double snr_db, min_level_dbfs, music_min_snr_db, music_max_cv, music_min_active;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOndddnddOO", &objs[0], &objs[1], &objs[2], &objs[3],
                          &per_block, &snr_db, &min_level_dbfs, &music_min_snr_db, &width,
                          &music_max_cv, &music_min_active, &objs[4], &objs[5])) {
        return NULL;
    }
    if (per_block < 1 || width < 1) {
        PyErr_SetString(PyExc_ValueError, "speech_frames: bad shape");
        return NULL;
    }
    Py_buffer v[6];
    if (take_all(objs, v, 6, 2) < 0) {
        return NULL;
    }
    const Py_ssize_t n = v[0].len / 4, blocks = (n + per_block - 1) / per_block;
    if (n >= INT32_MAX || v[1].len < n * 4 || v[2].len < blocks * 4 || v[3].len < blocks * 4 || v[4].len < n ||
        v[5].len < n) {
        release(v, 6);
        PyErr_SetString(PyExc_ValueError, "speech_frames: a buffer is too small for its shape");
        return NULL;
    }
    /* Thresholds as numpy compares them with float32 arrays: rounded to float32 first. */
    Frames p = {v[0].buf,
                v[1].buf,
                v[2].buf,
                v[3].buf,
                n,
                per_block,
                width,
                (float)snr_db,
                (float)min_level_dbfs,
                (float)music_min_snr_db,
                (float)music_max_cv,
                (float)music_min_active,
                v[4].buf,
                v[5].buf};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = run_frames(&p);
    Py_END_ALLOW_THREADS
    release(v, 6);
    if (rc < 0) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(speech_spans_doc,
             "speech_spans(active, frame_ms, min_burst_frames, max_gap_frames, min_speech_frames,\n"
             "             pad_ms) -> list[tuple[int, int]]\n--\n\n"
             "The (start_ms, end_ms) spans of speech from the per-frame mask: runs shorter than\n"
             "`min_burst_frames` dropped, gaps shorter than `max_gap_frames` bridged, spans\n"
             "shorter than `min_speech_frames` dropped, each widened by `pad_ms` (kept inside the\n"
             "audio) and those that then touch joined.");

static PyObject *speech_spans(PyObject *self, PyObject *args) {
    PyObject *mask_obj;
    Py_ssize_t frame_ms, max_gap, pad_ms;
    double min_burst, min_speech;
    (void)self;
    if (!PyArg_ParseTuple(args, "Ondndn", &mask_obj, &frame_ms, &min_burst, &max_gap,
                          &min_speech, &pad_ms)) {
        return NULL;
    }
    Py_buffer mask;
    if (take(mask_obj, &mask, 0) < 0) {
        return NULL;
    }
    const uint8_t *active = mask.buf;
    const Py_ssize_t n = mask.len, total_ms = n * frame_ms;
    PyObject *spans = PyList_New(0);
    /* One span pending at each stage: a run kept as a burst merges into the open span while
     * the gap is short; a closed span of speech is padded and merges into the pending one if
     * they touch. */
    Py_ssize_t open_start = -1, open_end = -1; /* frames */
    Py_ssize_t out_start = -1, out_end = -1;   /* ms */
    Py_ssize_t i = 0;
    while (spans != NULL) {
        Py_ssize_t start = -1, end = -1;
        while (i < n && !active[i]) {
            i++;
        }
        if (i < n) {
            start = i;
            while (i < n && active[i]) {
                i++;
            }
            end = i;
            if ((double)(end - start) < min_burst) {
                continue; /* a click */
            }
            if (open_start >= 0 && start - open_end < max_gap) {
                open_end = end;
                continue;
            }
        }
        /* A new burst after a long gap, or the end: the open span is complete. */
        if (open_start >= 0 && (double)(open_end - open_start) >= min_speech) {
            Py_ssize_t a = open_start * frame_ms - pad_ms, b = open_end * frame_ms + pad_ms;
            a = a > 0 ? a : 0;
            b = b < total_ms ? b : total_ms;
            if (out_start >= 0 && a <= out_end) {
                out_end = b;
            } else {
                if (out_start >= 0) {
                    PyObject *pair = Py_BuildValue("(nn)", out_start, out_end);
                    if (pair == NULL || PyList_Append(spans, pair) < 0) {
                        Py_XDECREF(pair);
                        Py_CLEAR(spans);
                        break;
                    }
                    Py_DECREF(pair);
                }
                out_start = a;
                out_end = b;
            }
        }
        open_start = start;
        open_end = end;
        if (start < 0) {
            break;
        }
    }
    if (spans != NULL && out_start >= 0) {
        PyObject *pair = Py_BuildValue("(nn)", out_start, out_end);
        if (pair == NULL || PyList_Append(spans, pair) < 0) {
            Py_CLEAR(spans);
        }
        Py_XDECREF(pair);
    }
    PyBuffer_Release(&mask);
    return spans;
}

static PyMethodDef methods[] = {
    {"block_floors", block_floors, METH_VARARGS, block_floors_doc},
    {"speech_frames", speech_frames, METH_VARARGS, speech_frames_doc},
    {"speech_spans", speech_spans, METH_VARARGS, speech_spans_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_vad", "The voice activity detector's per-frame work (see _vad.c).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__vad(void) { return PyModule_Create(&module); }
