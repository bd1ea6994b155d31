/* A paced event storm for the benchmarks: makes events of one kind at a
 * target rate for a number of seconds, then prints one JSON line.
 *
 *   storm exec RATE SECONDS   fork+exec of /bin/true (posix_spawn; children reaped
 *                             as they finish, at most 32 in flight)
 *   storm file RATE SECONDS   openat() of unique paths that do not exist
 *                             (/nonexistent/<n>: failed opens are always streamed)
 *   storm net  RATE SECONDS   non-blocking TCP connect() to a closed port on
 *                             127.0.0.1, then close() (a refused connect is an event)
 *
 * RATE 0 means as fast as possible.  Pacing: after each event, if the count is
 * ahead of RATE x elapsed, sleep until the next millisecond tick.  Output:
 *   {"kind": "file", "target": 10000, "done": 20001, "seconds": 2.000, "rate": 10000}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int in_flight;

static void reap(int block)
{
	while (in_flight > 0) {
		pid_t pid = waitpid(-1, NULL, block ? 0 : WNOHANG);
		if (pid <= 0)
			return;
		in_flight--;
		block = 0;
	}
}

static int one_exec(unsigned long n)
{
	static char *argv[] = {"true", NULL};
	pid_t pid;
	(void)n;
	if (in_flight >= 32)
		reap(1);
	if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0)
		return -1;
	in_flight++;
	reap(0);
	return 0;
}

static int one_open(unsigned long n)
{
	char path[64];
	snprintf(path, sizeof(path), "/nonexistent/%lu", n);
	int fd = openat(AT_FDCWD, path, O_RDONLY);
	if (fd >= 0)
		close(fd);
	return 0;
}

static int one_connect(unsigned long n)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(9)};
	(void)n;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: storm exec|file|net RATE SECONDS\n");
		return 2;
	}
	int (*one)(unsigned long);
	if (!strcmp(argv[1], "exec"))
		one = one_exec;
	else if (!strcmp(argv[1], "file"))
		one = one_open;
	else if (!strcmp(argv[1], "net"))
		one = one_connect;
	else {
		fprintf(stderr, "storm: unknown kind %s\n", argv[1]);
		return 2;
	}
	double rate = atof(argv[2]), seconds = atof(argv[3]);
	double start = now(), end = start + seconds, t = start;
	unsigned long done = 0;
	while (t < end) {
		if (one(done) < 0) {
			perror("storm");
			return 1;
		}
		done++;
		if ((done & 63) == 0 || rate > 0)
			t = now();
		if (rate > 0 && done >= rate * (t - start)) {
			/* ahead of schedule: sleep to the next millisecond tick */
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec = (ts.tv_nsec / 1000000 + 1) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			t = now();
		}
	}
	double elapsed = now() - start;
	reap(1);
	while (in_flight > 0)
		reap(1);
	printf("{\"kind\": \"%s\", \"target\": %.0f, \"done\": %lu, \"seconds\": %.3f, \"rate\": %.0f}\n",
	       argv[1], rate, done, elapsed, done / elapsed);
	return 0;
}
