#ifndef TDEFS_CPLATFORM_H
#define TDEFS_CPLATFORM_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/stat.h>

// Values that Swift cannot see without _GNU_SOURCE; exported from a C file built with it so they
// are right on every architecture.
extern const int tdefs_O_PATH;
extern const int tdefs_O_DIRECT;
extern const int tdefs_O_NOATIME;
extern const int tdefs_O_TMPFILE;
extern const int tdefs_AT_EMPTY_PATH;
extern const long tdefs_UTIME_NOW;
extern const long tdefs_UTIME_OMIT;
extern const unsigned tdefs_RENAME_NOREPLACE;
extern const unsigned tdefs_RENAME_EXCHANGE;
extern const unsigned tdefs_RENAME_WHITEOUT;
extern const int tdefs_FALLOC_FL_KEEP_SIZE;
extern const int tdefs_FALLOC_FL_PUNCH_HOLE;
extern const int tdefs_F_OFD_SETLK;
extern const int tdefs_F_OFD_GETLK;
extern const int tdefs_XATTR_CREATE;

int tdefs_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned flags);
int tdefs_fallocate(int fd, int mode, int64_t offset, int64_t len);
int tdefs_syncfs(int fd);
/* Blocks until this descriptor holds an exclusive (kind 1) or shared (kind 2) open-file-description
   lock on bytes [0, len) of fd, or drops it (kind 0). Returns 0, or -1 with errno (EINTR included). */
int tdefs_ofd_lock_range(int fd, int kind, int64_t len);
// Turns off core dumps and ptrace attachment for this process.
int tdefs_disable_core_dumps(void);
// Locks and zeroes memory for key material.
long tdefs_raise_nofile_limit(void);
void tdefs_release_free_memory(void);
void tdefs_tune_malloc_for_daemon(void);
int tdefs_mlock(void *addr, size_t len);
void tdefs_explicit_bzero(void *addr, size_t len);
ssize_t tdefs_getrandom(void *buf, size_t len);
// The sysfs file of the readahead window of the FUSE mount at `mountpoint`
// (/sys/class/bdi/MAJOR:MINOR/read_ahead_kb); -1 if `mountpoint` is not a FUSE mount.
int tdefs_fuse_readahead_path(const char *mountpoint, char *out, size_t size);
// Stats that leave out the file's mtime and ctime. On filesystems with multigrain timestamps
// (ext4, xfs, btrfs, tmpfs since Linux 6.13) a stat that reads them makes the file's next write
// stamp a fine-grained time, which dirties its inode, so the next fdatasync writes the inode block
// as well as the data: one more disk write per database commit.
// The size of the file open at fd; -1 with errno on failure.
int tdefs_fd_size(int fd, int64_t *size);
// fstat of fd (an O_PATH descriptor too) with st_mtim and st_ctim left zero.
int tdefs_fstat_untimed(int fd, struct stat *st);
// Thread id for log lines.
long tdefs_gettid(void);
// Blocks or unblocks SIGTERM, SIGINT, SIGHUP in the calling thread.
int tdefs_block_term_signals(int block);
// posix_spawn with a new session (POSIX_SPAWN_SETSID) and the given fds kept open.
int tdefs_spawn_daemon(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                       int stdin_fd, int stdout_fd, int stderr_fd);
// The path /proc/self/fd/N is readable for O_PATH fds: fills buf with it.
int tdefs_proc_fd_path(int fd, char *buf, size_t len);
// Echo control for the passphrase prompt.
int tdefs_set_echo(int fd, int on);
// Extended attributes by path (sys/xattr.h is not in Swift's Glibc module).
ssize_t tdefs_getxattr(const char *path, const char *name, void *value, size_t size);
int tdefs_setxattr(const char *path, const char *name, const void *value, size_t size, int flags);
ssize_t tdefs_listxattr(const char *path, char *list, size_t size);
int tdefs_removexattr(const char *path, const char *name);
ssize_t tdefs_lgetxattr(const char *path, const char *name, void *value, size_t size);
ssize_t tdefs_llistxattr(const char *path, char *list, size_t size);
ssize_t tdefs_fgetxattr(int fd, const char *name, void *value, size_t size);
int tdefs_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags);
int tdefs_fremovexattr(int fd, const char *name);
// The uid of the process at the other end of a Unix socket (SO_PEERCRED); -1 on failure.
long tdefs_peer_uid(int fd);
// accept(2) with SOCK_CLOEXEC.
int tdefs_accept_cloexec(int fd);
#endif
