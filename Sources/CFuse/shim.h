#ifndef TDEFS_CFUSE_SHIM_H
#define TDEFS_CFUSE_SHIM_H
// FUSE_USE_VERSION must be set before fuse_lowlevel.h; only this header reaches Swift's importer.
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/file.h>
#include <fcntl.h>

// fuse_session_new becomes a macro in libfuse 3.17; a wrapper imports on every version.
static inline struct fuse_session *tdefs_fuse_session_new(struct fuse_args *args,
        const struct fuse_lowlevel_ops *op, void *userdata) {
    return fuse_session_new(args, op, sizeof(*op), userdata);
}

static inline int tdefs_fuse_session_loop_mt(struct fuse_session *se, struct fuse_loop_config *cfg) {
    return fuse_session_loop_mt(se, cfg);
}

// Capability helpers: keep the 32/64-bit flag question in one place.
static inline int tdefs_conn_can(struct fuse_conn_info *conn, unsigned long long cap) {
    return (conn->capable & cap) != 0;
}
static inline void tdefs_conn_want(struct fuse_conn_info *conn, unsigned long long cap) {
    if (conn->capable & cap) conn->want |= (unsigned)cap;
}
static inline void tdefs_conn_unwant(struct fuse_conn_info *conn, unsigned long long cap) {
    conn->want &= ~(unsigned)cap;
}
static inline int tdefs_conn_wants(const struct fuse_conn_info *conn, unsigned long long cap) {
    return (conn->want & cap) != 0;
}

// fuse_file_info bitfields do not import as settable properties.
static inline void tdefs_fi_set_keep_cache(struct fuse_file_info *fi, int v) { fi->keep_cache = v ? 1 : 0; }
static inline void tdefs_fi_set_direct_io(struct fuse_file_info *fi, int v) { fi->direct_io = v ? 1 : 0; }
static inline void tdefs_fi_set_cache_readdir(struct fuse_file_info *fi, int v) { fi->cache_readdir = v ? 1 : 0; }
static inline void tdefs_fi_set_noflush(struct fuse_file_info *fi, int v) { fi->noflush = v ? 1 : 0; }
static inline int tdefs_fi_flock_release(const struct fuse_file_info *fi) { return fi->flock_release; }

#endif
