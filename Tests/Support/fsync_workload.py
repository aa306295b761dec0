#!/usr/bin/python3
"""Namespace workload for the power-loss test (DBPowerLossTests): on a tdefs mount, makes
directories, files with short and long (200-byte) names, renames and hard links, each made durable
the POSIX way (fsync of the file, then of its directory), and prints one acknowledgement line per
completed step. After a simulated power cut, every acknowledged step must be there.

    fsync_workload.py run DIR SECONDS          prints "ack N" lines
    fsync_workload.py check DIR ACKFILE        exits 1 naming the first missing step
"""
import hashlib
import os
import sys
import time


def content(n):
    return hashlib.sha256(b"%d" % n).digest() * (1 + n % 300)


def names(n):
    d = "dir%05d" % n
    short = "f%05d" % n
    long = ("L%05d" % n) + "x" * 194  # 200 bytes: stored under a hash with a side file
    return d, short, long


def fsync_path(path, directory=False):
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run(root, seconds):
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        d, short, long = names(n)
        dp = os.path.join(root, d)
        os.mkdir(dp)
        fsync_path(root, True)
        for name in (short, long):
            p = os.path.join(dp, name)
            fd = os.open(p + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            os.write(fd, content(n))
            os.fsync(fd)
            os.close(fd)
            os.rename(p + ".tmp", p)
        os.link(os.path.join(dp, short), os.path.join(dp, "link-" + long[:150]))
        fsync_path(dp, True)
        print("ack %d" % n, flush=True)
        # Never synced: may be lost in a cut, but must still read without error afterwards.
        with open(os.path.join(dp, "unsynced"), "wb") as f:
            f.write(content(n + 7) * 3)
        with open(os.path.join(root, "log"), "ab") as f:
            f.write(content(n)[:100])
        n += 1


def check(root, ackfile):
    acked = [int(l.split()[1]) for l in open(ackfile) if l.startswith("ack ")]
    for n in acked:
        d, short, long = names(n)
        dp = os.path.join(root, d)
        for name in (short, long, "link-" + long[:150]):
            p = os.path.join(dp, name)
            with open(p, "rb") as f:
                got = f.read()
            if got != content(n):
                sys.exit("step %d: %s has %d bytes, not the %d acknowledged" % (n, p, len(got), len(content(n))))
    # Everything else in the tree must read without error too.
    files = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for f in filenames:
            with open(os.path.join(dirpath, f), "rb") as fh:
                fh.read()
            files += 1
    print("ok: %d acknowledged steps present, %d files read" % (len(acked), files))


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], float(sys.argv[3]))
    else:
        check(sys.argv[2], sys.argv[3])
