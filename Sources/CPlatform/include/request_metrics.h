#ifndef TDEFS_REQUEST_METRICS_H
#define TDEFS_REQUEST_METRICS_H
#include <stdint.h>

// The errno of the error reply a FUSE worker thread sent last, for the request metrics: the
// adapter notes it when it answers with an error, and takes it (back to 0) when the request is
// done. Thread-local, so no lock and no allocation.
void tdefs_note_reply_errno(int code);
int tdefs_take_reply_errno(void);
// The symbolic name of an errno ("EIO"), or NULL when the C library knows none.
const char *tdefs_errno_name(int code);
// CLOCK_MONOTONIC in nanoseconds.
uint64_t tdefs_monotonic_ns(void);
#endif
