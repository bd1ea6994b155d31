/* A syscall-heavy loop for the overhead benchmark: open/read/close/stat/getppid.
 * Usage: loop SECONDS — prints the iterations per second it managed.
 * One iteration makes exactly 5 syscalls (strace -c -f loop 1): openat, read,
 * close, newfstatat (glibc's stat), getppid; clock_gettime is the vDSO's, once
 * per 1000 iterations.  bench/harness/workloads.py SYSCALLS_PER_ITERATION. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5.0, start = now(), end = start + seconds;
	unsigned long iterations = 0;
	char buf[64];
	struct stat st;

	while (1) {
		for (int i = 0; i < 1000; i++) {
			int fd = open("/etc/passwd", O_RDONLY);
			if (fd >= 0) {
				if (read(fd, buf, sizeof(buf)) < 0)
					return 1;
				close(fd);
			}
			stat("/etc/passwd", &st);
			getppid();
		}
		iterations += 1000;
		if (now() >= end)
			break;
	}
	printf("%.0f\n", iterations / (now() - start));
	return 0;
}
