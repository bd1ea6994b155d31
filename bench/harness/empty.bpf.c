/* Empty programs on the every-syscall hooks, as raw_tp and as tp_btf (the
 * kind the syscall dispatcher is: its bpf_stats baseline, hook by hook).
 * - the bpf_stats baseline: run_time_ns/run_cnt of bench_empty_enter is what
 *   kernel.bpf_stats_enabled itself costs (two clock reads per run) plus the
 *   dispatch of a raw tracepoint program;
 * - the floor of any every-syscall hook: the loop's slowdown with one of them
 *   attached (and bpf_stats off) is what merely hooking sys_enter or sys_exit
 *   costs each syscall, before a tracker does anything. */
#define SEC(name) __attribute__((section(name), used))

SEC("raw_tp/sys_enter")
int bench_empty_enter(void *ctx)
{
	return 0;
}

SEC("raw_tp/sys_exit")
int bench_empty_exit(void *ctx)
{
	return 0;
}

SEC("tp_btf/sys_enter")
int bench_btf_enter(void *ctx)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int bench_btf_exit(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
