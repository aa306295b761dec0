#define _GNU_SOURCE
#include "request_metrics.h"
#include <string.h>
#include <time.h>

static __thread int last_reply_errno;

void tdefs_note_reply_errno(int code) { last_reply_errno = code; }

int tdefs_take_reply_errno(void) {
    int code = last_reply_errno;
    last_reply_errno = 0;
    return code;
}

const char *tdefs_errno_name(int code) { return strerrorname_np(code); }

uint64_t tdefs_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
