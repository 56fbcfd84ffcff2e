/*
 * rawpair: the baseline the kernel-trace benchmark compares every method with. For each repetition it opens every
 * path O_RDONLY, FIFREEZEs them in the order given, FITHAWs them in reverse order (or in the same order with -f),
 * and closes them: nothing else happens between the first FIFREEZE and the last FITHAW, and nothing is printed or
 * written while anything is frozen. After the last repetition it prints one line per repetition to stdout,
 *     rep <i> <open_ns> <first_freeze_ns> <last_thaw_ns> <close_ns>
 * in CLOCK_MONOTONIC nanoseconds (the clock of the trace's 'mono' clock and of .NET's Stopwatch on Linux).
 *
 * usage: rawpair [-n REPS] [-f] PATH...
 * exit:  0 all done; 1 a call failed (what was frozen is thawed first, then the error goes to stderr); 2 usage.
 * Safety: the caller must pass only filesystems it mounted itself; this program knows nothing of that.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int ioctl_retry(int fd, unsigned long request)
{
    int rc;
    do rc = ioctl(fd, request, 0); while (rc < 0 && errno == EINTR);
    return rc;
}

int main(int argc, char **argv)
{
    long reps = 1;
    int forward = 0, opt;
    while ((opt = getopt(argc, argv, "n:f")) != -1) {
        switch (opt) {
        case 'n': reps = strtol(optarg, NULL, 10); break;
        case 'f': forward = 1; break;
        default: fprintf(stderr, "usage: rawpair [-n REPS] [-f] PATH...\n"); return 2;
        }
    }
    int n = argc - optind;
    if (n < 1 || reps < 1) { fprintf(stderr, "usage: rawpair [-n REPS] [-f] PATH...\n"); return 2; }
    char **paths = argv + optind;
    int *fds = calloc((size_t)n, sizeof *fds);
    long long *times = calloc((size_t)reps * 4, sizeof *times);
    if (!fds || !times) { perror("rawpair: calloc"); return 1; }

    for (long r = 0; r < reps; r++) {
        long long *t = times + r * 4;
        t[0] = now_ns();
        for (int i = 0; i < n; i++) {
            fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC);
            if (fds[i] < 0) {
                int e = errno;
                fprintf(stderr, "rawpair: open %s: %s\n", paths[i], strerror(e));
                while (--i >= 0) close(fds[i]);
                return 1;
            }
        }
        int frozen = 0, failed_errno = 0;
        const char *failed_op = NULL, *failed_path = NULL;
        t[1] = now_ns();
        for (; frozen < n; frozen++) {
            if (ioctl_retry(fds[frozen], FIFREEZE) < 0) {
                failed_errno = errno; failed_op = "FIFREEZE"; failed_path = paths[frozen];
                break;
            }
        }
        /* Thaw exactly what this repetition froze, even after a failure: reverse order unless -f. */
        for (int k = 0; k < frozen; k++) {
            int i = forward ? k : frozen - 1 - k;
            if (ioctl_retry(fds[i], FITHAW) < 0 && !failed_op) {
                failed_errno = errno; failed_op = "FITHAW"; failed_path = paths[i];
            }
        }
        t[2] = now_ns();
        for (int i = 0; i < n; i++) close(fds[i]);
        t[3] = now_ns();
        if (failed_op) {
            fprintf(stderr, "rawpair: %s %s: %s\n", failed_op, failed_path, strerror(failed_errno));
            return 1;
        }
    }
    for (long r = 0; r < reps; r++) {
        long long *t = times + r * 4;
        printf("rep %ld %lld %lld %lld %lld\n", r, t[0], t[1], t[2], t[3]);
    }
    return 0;
}
