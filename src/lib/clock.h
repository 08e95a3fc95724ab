/*
 * clock.h - milliseconds: monotonic for timers and durations, wall clock
 * for what is compared with stored unix times.
 *
 * Public: clock_mono_ms, clock_wall_ms.
 */
#ifndef MOAT_CLOCK_H
#define MOAT_CLOCK_H

#include <stdint.h>

int64_t clock_mono_ms(void);
int64_t clock_wall_ms(void);

#endif
