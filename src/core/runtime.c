/* Thread count: ed_set_num_threads, else ED_NUM_THREADS, else all cores.
 * The same OpenMP runtime serves encdec's kernels and oneDNN's. */
#include "ed_internal.h"

#include <stdlib.h>
#include <unistd.h>

static int num_threads;   /* 0 = not decided yet */

void ed_set_num_threads(int n)
{
    if (n <= 0) {
        const char *e = getenv("ED_NUM_THREADS");
        n = e ? atoi(e) : 0;
        if (n <= 0) {
            long c = sysconf(_SC_NPROCESSORS_ONLN);
            n = c > 0 ? (int)c : 1;
        }
    }
    num_threads = n;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

int ed_get_num_threads(void)
{
    if (num_threads <= 0) ed_set_num_threads(0);
    return num_threads;
}
