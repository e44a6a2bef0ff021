/* The first MKL VML call of a process, made by several threads at the same moment.
 *
 * race(threads, n, x, sqrt): `threads` pthreads spin until all have started, then each calls
 * `sqrt` (MKL's vmsSqrt, passed in by the caller) on its own n values of x; afterwards each
 * result is compared with a later call on the same values. Returns how many threads' first
 * results differ, or -1 when memory or threads run out. Python threads cannot start a call
 * this closely together (the GIL hands them on one by one), hence C. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef void (*vms_fn)(int, const float *, float *, long long);
enum { MODE = 0x2 | 0x140000 | 0x100 }; /* VML_HA | VML_FTZDAZ_OFF | VML_ERRMODE_IGNORE */

struct job { vms_fn f; const float *x; float *y; int n, threads; atomic_int *ready; };

static void *call(void *arg) {
    struct job *j = arg;
    atomic_fetch_add(j->ready, 1);
    while (atomic_load(j->ready) < j->threads) {}
    j->f(j->n, j->x, j->y, MODE);
    return NULL;
}

int race(int threads, int n, const float *x, vms_fn f) {
    atomic_int ready = 0;
    struct job *jobs = calloc(threads, sizeof *jobs);
    pthread_t *ids = calloc(threads, sizeof *ids);
    float *y = malloc(sizeof(float) * (size_t)n * threads), *later = malloc(sizeof(float) * n);
    if (!jobs || !ids || !y || !later) return -1;
    for (int i = 0; i < threads; i++)
        jobs[i] = (struct job){f, x + (size_t)i * n, y + (size_t)i * n, n, threads, &ready};
    for (int i = 1; i < threads; i++)
        if (pthread_create(&ids[i], NULL, call, &jobs[i])) return -1;
    call(&jobs[0]);
    for (int i = 1; i < threads; i++) pthread_join(ids[i], NULL);
    int odd = 0;
    for (int i = 0; i < threads; i++) {
        f(n, jobs[i].x, later, MODE);
        odd += memcmp(later, jobs[i].y, sizeof(float) * n) != 0;
    }
    free(jobs); free(ids); free(y); free(later);
    return odd;
}
