/* The floor for bench/launch.ts: an empty kernel with 6 arguments launched in a C loop over the driver API, timed
 * like the Node loop (batches of N launches, each batch synchronized, median per launch). libcuda is opened with
 * dlopen so the program builds with any C compiler and no CUDA headers.
 * Usage: launch-loop <image file> <kernel name> [batches=15] [N=10000] [plain|coop|cluster]
 * prints one line: "<µs per launch>". coop and cluster go through cuLaunchKernelEx with one attribute (cooperative,
 * or a cluster of 1), the floor for cuop's Ex paths. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
/* cuda.h (CUDA 12+): CUlaunchConfig is 56 bytes, a CUlaunchAttribute 72 (id, padding, a 64-byte value union). */
typedef struct { int id; int pad; unsigned value[16]; } attr_t;
typedef struct {
  unsigned grid[3], block[3], shmem;
  void *stream;
  attr_t *attrs;
  unsigned nattrs;
} config_t;

#define CHECK(call) do { int rc = (call); if (rc) { fprintf(stderr, "%s failed: %d\n", #call, rc); return 1; } } while (0)

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: launch-loop <image> <kernel> [batches] [N]\n"); return 2; }
  int batches = argc > 3 ? atoi(argv[3]) : 15, n = argc > 4 ? atoi(argv[4]) : 10000;
  const char *mode = argc > 5 ? argv[5] : "plain";
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
  fn_t launch = sym("cuLaunchKernel"), launchEx = sym("cuLaunchKernelEx"), sync = sym("cuCtxSynchronize");
  int a = 1, b = 2; float c = 3.0f;
  void *params[6] = {&buf, &buf, &buf, &a, &b, &c};
  attr_t attr = {0};
  config_t cfg = {{1, 1, 1}, {32, 1, 1}, 0, 0, &attr, 1};
  int ex = 1;
  if (!strcmp(mode, "coop")) { attr.id = 2; attr.value[0] = 1; }
  else if (!strcmp(mode, "cluster")) { attr.id = 4; attr.value[0] = attr.value[1] = attr.value[2] = 1; }
  else ex = 0;
#define LAUNCH() (ex ? launchEx(&cfg, fn, params, (void *)0) : launch(fn, 1, 1, 1, 32, 1, 1, 0, (void *)0, params, (void *)0))
  for (int i = 0; i < 2000; i++) CHECK(LAUNCH());
  CHECK(sync());
  double *per = malloc(sizeof(double) * batches);
  for (int k = 0; k < batches; k++) {
    double t = now_us();
    for (int i = 0; i < n; i++) CHECK(LAUNCH());
    CHECK(sync());
    per[k] = (now_us() - t) / n;
  }
  qsort(per, batches, sizeof(double), cmp);
  printf("%.3f\n", per[batches / 2]);
  return 0;
}
