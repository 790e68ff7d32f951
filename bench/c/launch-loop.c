/* The floor for bench/launch.ts: an empty kernel with 6 arguments launched in a C loop over the driver API, timed
 * like the Node loop (batches of N launches, each batch synchronized, median per launch). libcuda is opened with
 * dlopen so the program builds with any C compiler and no CUDA headers.
 * Usage: launch-loop <image file> <kernel name> [batches=15] [N=10000]   prints one line: "<µs per launch>" */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef int (*fn_t)();
static void *lib;
static fn_t sym(const char *name) {
  fn_t f = (fn_t)dlsym(lib, name);
  if (!f) { fprintf(stderr, "missing %s\n", name); exit(2); }
  return f;
}
static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}
static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
#define CHECK(call) do { int rc = (call); if (rc) { fprintf(stderr, "%s failed: %d\n", #call, rc); return 1; } } while (0)

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: launch-loop <image> <kernel> [batches] [N]\n"); return 2; }
  int batches = argc > 3 ? atoi(argv[3]) : 15, n = argc > 4 ? atoi(argv[4]) : 10000;
  lib = dlopen("libcuda.so.1", RTLD_NOW);
  if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 2; }
  int dev = 0; void *ctx = 0, *mod = 0, *fn = 0; unsigned long long buf = 0;
  CHECK(sym("cuInit")(0));
  CHECK(sym("cuDeviceGet")(&dev, 0));
  CHECK(sym("cuDevicePrimaryCtxRetain")(&ctx, dev));
  CHECK(sym("cuCtxSetCurrent")(ctx));
  CHECK(sym("cuModuleLoad")(&mod, argv[1]));
  CHECK(sym("cuModuleGetFunction")(&fn, mod, argv[2]));
  CHECK(sym("cuMemAlloc_v2")(&buf, 1024));
  fn_t launch = sym("cuLaunchKernel"), sync = sym("cuCtxSynchronize");
  int a = 1, b = 2; float c = 3.0f;
  void *params[6] = {&buf, &buf, &buf, &a, &b, &c};
  for (int i = 0; i < 2000; i++) CHECK(launch(fn, 1, 1, 1, 32, 1, 1, 0, (void *)0, params, (void *)0));
  CHECK(sync());
  double *per = malloc(sizeof(double) * batches);
  for (int k = 0; k < batches; k++) {
    double t = now_us();
    for (int i = 0; i < n; i++) CHECK(launch(fn, 1, 1, 1, 32, 1, 1, 0, (void *)0, params, (void *)0));
    CHECK(sync());
    per[k] = (now_us() - t) / n;
  }
  qsort(per, batches, sizeof(double), cmp);
  printf("%.3f\n", per[batches / 2]);
  return 0;
}
