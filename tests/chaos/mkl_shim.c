/* Preloaded by mkl_path.py (LD_PRELOAD) into the chaos scripts' processes:
 *
 * - mkl_serv_intel_cpu_true, MKL's CPU-vendor check, answers "Intel" when MKL_SHIM_INTEL_PATH
 *   is set, so that MKL takes its Intel code path on any x86-64 CPU; otherwise the real answer;
 * - vmsSqrt counts its calls (vml_sqrt_calls) and forwards them: how a script sees that a
 *   torch op reached MKL's vector math. */
#include <dlfcn.h>
#include <stdlib.h>

static int calls;

int vml_sqrt_calls(void) { return __atomic_load_n(&calls, __ATOMIC_RELAXED); }

/* The real function of torch's MKL, which torch may have loaded with RTLD_LOCAL (out of
 * RTLD_NEXT's reach): looked up in libtorch_cpu.so itself. */
static void *real(const char *name) {
    void *lib = dlopen("libtorch_cpu.so", RTLD_LAZY | RTLD_NOLOAD);
    void *f = lib ? dlsym(lib, name) : NULL;
    if (!f) abort();
    return f;
}

void vmsSqrt(int n, const float *a, float *r, long long mode) {
    void (*f)(int, const float *, float *, long long) = real("vmsSqrt");
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    f(n, a, r, mode);
}

int mkl_serv_intel_cpu_true(void) {
    if (getenv("MKL_SHIM_INTEL_PATH")) return 1;
    int (*f)(void) = real("mkl_serv_intel_cpu_true");
    return f();
}
