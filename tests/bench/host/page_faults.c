// What a first touch of anonymous memory costs on this host, per 4 KiB page: faulted one page at a
// time, pre-populated with MAP_POPULATE, and on transparent huge pages (MADV_HUGEPAGE). On the
// project's VMs the first is ~12 us a page, so a run's heap growth is a visible part of its time.
// Build and run: cc -O2 tests/bench/host/page_faults.c -o /tmp/page_faults && /tmp/page_faults
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double touch(char* p, size_t n) {
  double t0 = now();
  for (size_t i = 0; i < n; i += 4096) p[i] = 1;
  return (now() - t0) * 1e6 / (double)(n / 4096);
}

int main(void) {
  const size_t n = (size_t)64 << 20, huge = (size_t)2 << 20;
  for (int round = 0; round < 3; ++round) {
    char* a = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    double fault = touch(a, n);
    munmap(a, n);
    double t0 = now();
    char* b = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    double populate = (now() - t0) * 1e6 / (double)(n / 4096) + touch(b, n);
    munmap(b, n);
    char* c = mmap(0, n + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char* ca = (char*)(((uintptr_t)c + huge - 1) & ~(uintptr_t)(huge - 1));
    madvise(ca, n, MADV_HUGEPAGE);
    double thp = touch(ca, n);
    munmap(c, n + huge);
    printf("us per 4 KiB page: fault %.2f  MAP_POPULATE %.2f  THP %.2f\n", fault, populate, thp);
  }
  return 0;
}
