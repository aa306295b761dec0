/*
 * lazyfs: a passthrough FUSE filesystem (libfuse3) that keeps file data not yet fsynced in
 * memory and can drop it on command, to simulate a power cut below tdefs (the technique of
 * LazyFS, https://github.com/dsrhaslab/lazyfs). Built and run by
 * Tests/TDEFSMountTests/DBPowerLossTests.swift:
 *
 *     cc -O2 -Wall lazyfs.c $(pkg-config fuse3 --cflags --libs) -lpthread -o lazyfs
 *     lazyfs LOWER MOUNTPOINT CUT_REPORT -f [-o fuse options]
 *
 * Model (that of LazyFS's default configuration):
 * - File data lives in a page cache (4 KiB pages) per lower inode: write() and truncate only change
 *   the cache; read() and getattr() see the cache over the lower file.
 * - fsync() and fdatasync() of a file write its dirty pages and its size to the lower file and
 *   fsync it there. close() does not (a real page cache does not either).
 * - Namespace and metadata operations (create, mkdir, rename, link, unlink, symlink, chmod, chown,
 *   utimens, xattrs) reach the lower directory at once; fsync of a directory does nothing more.
 * - SIGUSR1 is the power cut: every dirty page and unsynced size is dropped, and from then on
 *   every operation fails with EIO (the disk is gone). A line "cut PAGES BYTES" is then written
 *   to CUT_REPORT. The lower directory holds exactly what was synced.
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE
#include <fuse.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PAGE 4096
#define BUCKETS 1024

struct page {
    off_t index;
    struct page *next;
    char data[PAGE];
};

/* The cached state of one lower inode. */
struct cfile {
    ino_t ino;
    dev_t dev;
    off_t size;          /* logical size (what readers see) */
    int refs;            /* open handles */
    int orphan;          /* last name gone: no longer findable by inode */
    long npages;
    struct page *buckets[BUCKETS];
    struct cfile *next;
};

struct handle {
    int fd;
    int append;
    struct cfile *f;
};

static const char *lower;
static const char *cut_report;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct cfile *files;
static int dead;

static void lower_path(char *out, const char *path) { snprintf(out, PATH_MAX, "%s%s", lower, path); }

static struct cfile *find_file(dev_t dev, ino_t ino) {
    for (struct cfile *f = files; f; f = f->next)
        if (f->ino == ino && f->dev == dev && !f->orphan) return f;
    return NULL;
}

static void drop_pages(struct cfile *f) {
    for (int b = 0; b < BUCKETS; b++) {
        struct page *p = f->buckets[b];
        while (p) { struct page *n = p->next; free(p); p = n; }
        f->buckets[b] = NULL;
    }
    f->npages = 0;
}

static void unlink_file(struct cfile *f) {
    struct cfile **pp = &files;
    while (*pp && *pp != f) pp = &(*pp)->next;
    if (*pp) *pp = f->next;
    drop_pages(f);
    free(f);
}

/* The cache entry of the inode behind fd (created with the lower size when missing). */
static struct cfile *get_file(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return NULL;
    struct cfile *f = find_file(st.st_dev, st.st_ino);
    if (f) return f;
    f = calloc(1, sizeof *f);
    f->ino = st.st_ino;
    f->dev = st.st_dev;
    f->size = st.st_size;
    f->next = files;
    files = f;
    return f;
}

static struct page *lookup_page(struct cfile *f, off_t index) {
    for (struct page *p = f->buckets[index % BUCKETS]; p; p = p->next)
        if (p->index == index) return p;
    return NULL;
}

/* Reads page `index` as readers see it: the cached page, else the lower bytes below the logical size. */
static void read_page(struct cfile *f, int fd, off_t index, char *out) {
    struct page *p = lookup_page(f, index);
    if (p) { memcpy(out, p->data, PAGE); return; }
    memset(out, 0, PAGE);
    off_t start = index * PAGE;
    if (start >= f->size) return;
    ssize_t n = pread(fd, out, PAGE, start);
    if (n < 0) n = 0;
    off_t valid = f->size - start;
    if (valid < PAGE) memset(out + valid, 0, PAGE - valid);
}

static struct page *page_for_write(struct cfile *f, int fd, off_t index) {
    struct page *p = lookup_page(f, index);
    if (p) return p;
    p = malloc(sizeof *p);
    read_page(f, fd, index, p->data);
    p->index = index;
    p->next = f->buckets[index % BUCKETS];
    f->buckets[index % BUCKETS] = p;
    f->npages++;
    return p;
}

static int set_size(struct cfile *f, int fd, off_t size) {
    if (size < f->size) {
        /* Pages wholly beyond the new end go; the partial last page is zeroed past it. */
        for (int b = 0; b < BUCKETS; b++) {
            struct page **pp = &f->buckets[b];
            while (*pp) {
                if ((*pp)->index * PAGE >= size) { struct page *n = (*pp)->next; free(*pp); *pp = n; f->npages--; }
                else pp = &(*pp)->next;
            }
        }
        if (size % PAGE) {
            struct page *p = page_for_write(f, fd, size / PAGE);
            memset(p->data + size % PAGE, 0, PAGE - size % PAGE);
        }
    } else if (size > f->size && f->size % PAGE) {
        /* The old partial page must read as zeros past the old end, whatever the lower file holds. */
        struct page *p = page_for_write(f, fd, f->size / PAGE);
        memset(p->data + f->size % PAGE, 0, PAGE - f->size % PAGE);
    }
    f->size = size;
    return 0;
}

/* Writes the dirty pages and the size to the lower file, then fsyncs it. */
static int flush_file(struct cfile *f, int fd, int datasync) {
    for (int b = 0; b < BUCKETS; b++) {
        for (struct page *p = f->buckets[b]; p; p = p->next) {
            off_t start = p->index * PAGE;
            if (start >= f->size) continue;
            size_t len = f->size - start < PAGE ? (size_t)(f->size - start) : PAGE;
            if (pwrite(fd, p->data, len, start) != (ssize_t)len) return -errno;
        }
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size != f->size && ftruncate(fd, f->size) != 0) return -errno;
    drop_pages(f);
    if ((datasync ? fdatasync(fd) : fsync(fd)) != 0) return -errno;
    return 0;
}

#define ALIVE() do { if (dead) return -EIO; } while (0)
#define LOCKED_ALIVE() do { pthread_mutex_lock(&mu); if (dead) { pthread_mutex_unlock(&mu); return -EIO; } } while (0)

static int lz_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    char p[PATH_MAX];
    LOCKED_ALIVE();
    int r = fi ? fstat(((struct handle *)(uintptr_t)fi->fh)->fd, st) : (lower_path(p, path), lstat(p, st));
    if (r != 0) { r = -errno; pthread_mutex_unlock(&mu); return r; }
    if (S_ISREG(st->st_mode)) {
        struct cfile *f = find_file(st->st_dev, st->st_ino);
        if (f) st->st_size = f->size;
    }
    pthread_mutex_unlock(&mu);
    return 0;
}

static int lz_readlink(const char *path, char *buf, size_t size) {
    char p[PATH_MAX];
    ALIVE();
    lower_path(p, path);
    ssize_t n = readlink(p, buf, size - 1);
    if (n < 0) return -errno;
    buf[n] = 0;
    return 0;
}

static int lz_mknod(const char *path, mode_t mode, dev_t rdev) {
    char p[PATH_MAX]; ALIVE(); lower_path(p, path);
    return mknod(p, mode, rdev) ? -errno : 0;
}

static int lz_mkdir(const char *path, mode_t mode) {
    char p[PATH_MAX]; ALIVE(); lower_path(p, path);
    return mkdir(p, mode) ? -errno : 0;
}

/* Before a name goes (unlink, or rename over it): a last link's cache entry stops being findable,
 * so a new file that reuses the inode number starts clean. */
static void name_going(const char *p) {
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1) {
        struct cfile *f = find_file(st.st_dev, st.st_ino);
        if (f) { f->orphan = 1; if (f->refs == 0) unlink_file(f); }
    }
}

static int lz_unlink(const char *path) {
    char p[PATH_MAX];
    LOCKED_ALIVE();
    lower_path(p, path);
    name_going(p);
    int r = unlink(p) ? -errno : 0;
    pthread_mutex_unlock(&mu);
    return r;
}

static int lz_rmdir(const char *path) {
    char p[PATH_MAX]; ALIVE(); lower_path(p, path);
    return rmdir(p) ? -errno : 0;
}

static int lz_symlink(const char *target, const char *path) {
    char p[PATH_MAX]; ALIVE(); lower_path(p, path);
    return symlink(target, p) ? -errno : 0;
}

static int lz_rename(const char *from, const char *to, unsigned int flags) {
    char a[PATH_MAX], b[PATH_MAX];
    LOCKED_ALIVE();
    lower_path(a, from);
    lower_path(b, to);
    if (!(flags & RENAME_EXCHANGE) && !(flags & RENAME_NOREPLACE)) name_going(b);
    int r = syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, flags) ? -errno : 0;
    pthread_mutex_unlock(&mu);
    return r;
}

static int lz_link(const char *from, const char *to) {
    char a[PATH_MAX], b[PATH_MAX]; ALIVE(); lower_path(a, from); lower_path(b, to);
    return link(a, b) ? -errno : 0;
}

static int lz_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
    char p[PATH_MAX]; ALIVE();
    if (fi) return fchmod(((struct handle *)(uintptr_t)fi->fh)->fd, mode) ? -errno : 0;
    lower_path(p, path);
    return chmod(p, mode) ? -errno : 0;
}

static int lz_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
    char p[PATH_MAX]; ALIVE();
    if (fi) return fchown(((struct handle *)(uintptr_t)fi->fh)->fd, uid, gid) ? -errno : 0;
    lower_path(p, path);
    return lchown(p, uid, gid) ? -errno : 0;
}

static int lz_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
    char p[PATH_MAX];
    LOCKED_ALIVE();
    int fd, own = 0;
    if (fi) fd = ((struct handle *)(uintptr_t)fi->fh)->fd;
    else {
        lower_path(p, path);
        fd = open(p, O_RDWR | O_CLOEXEC);
        if (fd < 0) { int e = -errno; pthread_mutex_unlock(&mu); return e; }
        own = 1;
    }
    struct cfile *f = get_file(fd);
    int r = f ? set_size(f, fd, size) : -EIO;
    if (f && own && f->refs == 0 && f->npages == 0 && f->size == size) {
        /* keep the entry: its size differs from the lower file's until an fsync */
    }
    if (own) close(fd);
    pthread_mutex_unlock(&mu);
    return r;
}

static int lz_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
    char p[PATH_MAX]; ALIVE();
    if (fi) return futimens(((struct handle *)(uintptr_t)fi->fh)->fd, tv) ? -errno : 0;
    lower_path(p, path);
    return utimensat(AT_FDCWD, p, tv, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static int open_handle(const char *p, int flags, mode_t mode, struct fuse_file_info *fi) {
    /* Always read-write when allowed: an fsync through any handle flushes the inode's pages. */
    int base = (flags & ~(O_ACCMODE | O_TRUNC | O_APPEND | O_DIRECT)) | O_CLOEXEC;
    int fd = open(p, base | O_RDWR, mode);
    if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EISDIR)) fd = open(p, base | (flags & O_ACCMODE), mode);
    if (fd < 0) return -errno;
    struct cfile *f = get_file(fd);
    if (!f) { close(fd); return -EIO; }
    if (flags & O_TRUNC) set_size(f, fd, 0);
    f->refs++;
    struct handle *h = calloc(1, sizeof *h);
    h->fd = fd;
    h->append = (flags & O_APPEND) != 0;
    h->f = f;
    fi->fh = (uintptr_t)h;
    fi->direct_io = 1; /* no kernel page cache above us: what we drop is really gone */
    return 0;
}

static int lz_open(const char *path, struct fuse_file_info *fi) {
    char p[PATH_MAX];
    LOCKED_ALIVE();
    lower_path(p, path);
    int r = open_handle(p, fi->flags & ~(O_CREAT | O_EXCL), 0, fi);
    pthread_mutex_unlock(&mu);
    return r;
}

static int lz_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
    char p[PATH_MAX];
    LOCKED_ALIVE();
    lower_path(p, path);
    int r = open_handle(p, fi->flags | O_CREAT, mode, fi);
    pthread_mutex_unlock(&mu);
    return r;
}

static int lz_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
    (void)path;
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    LOCKED_ALIVE();
    struct cfile *f = h->f;
    if (off >= f->size) { pthread_mutex_unlock(&mu); return 0; }
    if ((off_t)size > f->size - off) size = f->size - off;
    char page[PAGE];
    size_t done = 0;
    while (done < size) {
        off_t pos = off + done;
        off_t index = pos / PAGE;
        size_t in = pos % PAGE, n = PAGE - in;
        if (n > size - done) n = size - done;
        read_page(f, h->fd, index, page);
        memcpy(buf + done, page + in, n);
        done += n;
    }
    pthread_mutex_unlock(&mu);
    return (int)done;
}

static int lz_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
    (void)path;
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    LOCKED_ALIVE();
    struct cfile *f = h->f;
    if (h->append) off = f->size;
    if (off > f->size) set_size(f, h->fd, off);
    size_t done = 0;
    while (done < size) {
        off_t pos = off + done;
        size_t in = pos % PAGE, n = PAGE - in;
        if (n > size - done) n = size - done;
        struct page *p = page_for_write(f, h->fd, pos / PAGE);
        memcpy(p->data + in, buf + done, n);
        done += n;
    }
    if (off + (off_t)size > f->size) f->size = off + size;
    pthread_mutex_unlock(&mu);
    return (int)size;
}

static int lz_statfs(const char *path, struct statvfs *st) {
    (void)path; ALIVE();
    return statvfs(lower, st) ? -errno : 0;
}

static int lz_release(const char *path, struct fuse_file_info *fi) {
    (void)path;
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    pthread_mutex_lock(&mu);
    h->f->refs--;
    if (h->f->orphan && h->f->refs == 0) unlink_file(h->f);
    close(h->fd);
    free(h);
    pthread_mutex_unlock(&mu);
    return 0;
}

static int lz_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
    (void)path;
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    LOCKED_ALIVE();
    int r = flush_file(h->f, h->fd, datasync);
    pthread_mutex_unlock(&mu);
    return r;
}

static int lz_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi) {
    (void)path; (void)datasync; (void)fi; ALIVE();
    return 0;
}

static int lz_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags) {
    (void)off; (void)fi; (void)flags;
    char p[PATH_MAX]; ALIVE(); lower_path(p, path);
    DIR *d = opendir(p);
    if (!d) return -errno;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st = {0};
        st.st_ino = e->d_ino;
        st.st_mode = e->d_type << 12;
        if (filler(buf, e->d_name, &st, 0, 0)) break;
    }
    closedir(d);
    return 0;
}

static int lz_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi) {
    (void)path;
    if (mode != 0) return -EOPNOTSUPP;
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    LOCKED_ALIVE();
    if (off + len > h->f->size) set_size(h->f, h->fd, off + len);
    pthread_mutex_unlock(&mu);
    return 0;
}

static int lz_setxattr(const char *path, const char *name, const char *value, size_t size, int flags) {
    char p[PATH_MAX]; ALIVE(); lower_path(p, path);
    return lsetxattr(p, name, value, size, flags) ? -errno : 0;
}

static int lz_getxattr(const char *path, const char *name, char *value, size_t size) {
    char p[PATH_MAX]; ALIVE(); lower_path(p, path);
    ssize_t n = lgetxattr(p, name, value, size);
    return n < 0 ? -errno : (int)n;
}

static int lz_listxattr(const char *path, char *list, size_t size) {
    char p[PATH_MAX]; ALIVE(); lower_path(p, path);
    ssize_t n = llistxattr(p, list, size);
    return n < 0 ? -errno : (int)n;
}

static int lz_removexattr(const char *path, const char *name) {
    char p[PATH_MAX]; ALIVE(); lower_path(p, path);
    return lremovexattr(p, name) ? -errno : 0;
}

static void *lz_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
    (void)conn;
    cfg->use_ino = 1;
    cfg->attr_timeout = 0;
    cfg->entry_timeout = 0;
    cfg->negative_timeout = 0;
    cfg->direct_io = 1;
    cfg->hard_remove = 1;
    return NULL;
}

static const struct fuse_operations ops = {
    .init = lz_init,
    .getattr = lz_getattr,
    .readlink = lz_readlink,
    .mknod = lz_mknod,
    .mkdir = lz_mkdir,
    .unlink = lz_unlink,
    .rmdir = lz_rmdir,
    .symlink = lz_symlink,
    .rename = lz_rename,
    .link = lz_link,
    .chmod = lz_chmod,
    .chown = lz_chown,
    .truncate = lz_truncate,
    .utimens = lz_utimens,
    .open = lz_open,
    .create = lz_create,
    .read = lz_read,
    .write = lz_write,
    .statfs = lz_statfs,
    .release = lz_release,
    .fsync = lz_fsync,
    .fsyncdir = lz_fsyncdir,
    .readdir = lz_readdir,
    .fallocate = lz_fallocate,
    .setxattr = lz_setxattr,
    .getxattr = lz_getxattr,
    .listxattr = lz_listxattr,
    .removexattr = lz_removexattr,
};

/* SIGUSR1: the power cut. */
static void *cut_thread(void *arg) {
    sigset_t *set = arg;
    int sig;
    for (;;) {
        if (sigwait(set, &sig) != 0) continue;
        pthread_mutex_lock(&mu);
        dead = 1;
        long pages = 0, bytes = 0;
        for (struct cfile *f = files; f; f = f->next) { pages += f->npages; bytes += f->npages * PAGE; drop_pages(f); }
        pthread_mutex_unlock(&mu);
        FILE *out = fopen(cut_report, "w");
        if (out) { fprintf(out, "cut %ld %ld\n", pages, bytes); fclose(out); }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: lazyfs LOWER MOUNTPOINT CUT_REPORT [fuse options]\n");
        return 2;
    }
    static char real[PATH_MAX];
    if (!realpath(argv[1], real)) { perror(argv[1]); return 1; }
    lower = real;
    cut_report = argv[3];
    umask(0);
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t t;
    pthread_create(&t, NULL, cut_thread, &set);
    /* argv for fuse_main: program, MOUNTPOINT, then the rest. */
    char **fargv = calloc(argc, sizeof *fargv);
    int fargc = 0;
    fargv[fargc++] = argv[0];
    fargv[fargc++] = argv[2];
    for (int i = 4; i < argc; i++) fargv[fargc++] = argv[i];
    return fuse_main(fargc, fargv, &ops, NULL);
}
