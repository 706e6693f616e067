/* tsc-khz: print this host's TSC frequency in kHz, measured against CLOCK_MONOTONIC_RAW.
 *
 * Under TCG, qemu's guest RDTSC is the host's TSC, so test/vm/run-guest.sh passes this as
 * tsc_early_khz= to the guest kernel: without it the guest's PIT-based TSC calibration fails
 * now and then on a busy host (tsc_khz=0), and the boot then hangs in calibrate_delay() or
 * setup_boot_APIC_clock() waiting for timer ticks that never come.
 * Built by test/vm/build-guest.sh (gcc -O2). x86-64 only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <x86intrin.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double ms = argc > 1 ? atof(argv[1]) : 50.0, best = 0;

	/* A few short windows; keep the median-ish value (least disturbed by preemption). */
	double v[5];
	for (int i = 0; i < 5; i++) {
		double t0 = now();
		uint64_t c0 = __rdtsc();
		double t1;
		while ((t1 = now()) - t0 < ms / 5 / 1000.0)
			;
		uint64_t c1 = __rdtsc();
		double t2 = now();
		/* bracket the rdtsc with the clock reads and use their midpoint */
		v[i] = (double)(c1 - c0) / ((t1 + t2) / 2 - t0) / 1000.0;
	}
	for (int i = 0; i < 5; i++)
		for (int j = i + 1; j < 5; j++)
			if (v[j] < v[i]) { double t = v[i]; v[i] = v[j]; v[j] = t; }
	best = v[2];
	printf("%.0f\n", best);
	return best > 0 ? 0 : 1;
}
