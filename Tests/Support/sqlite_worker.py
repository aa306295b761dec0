#!/usr/bin/python3
"""SQLite worker for the tdefs database tests (Tests/TDEFSMountTests/DBSQLiteTests.swift).

    sqlite_worker.py init   DB MODE            create the schema; MODE is wal or delete (rollback journal)
    sqlite_worker.py run    DB WORKER SECONDS ACKS [ROWS_PER_TXN]
    sqlite_worker.py check  DB ACKS...         integrity_check, invariants, every acknowledged commit present

`run` loops until SECONDS have passed: a write transaction (BEGIN IMMEDIATE; ROWS_PER_TXN inserts into
t; counters[worker] += ROWS_PER_TXN; COMMIT), whose sequence number is appended to ACKS (and flushed)
only after COMMIT returned, then a read transaction that checks count(t) == sum(counters.n) in one
snapshot. Uses Python's sqlite3 module, i.e. Debian's libsqlite3 (3.40).
"""
import os
import random
import sqlite3
import sys
import time


def connect(path):
    db = sqlite3.connect(path, timeout=60, isolation_level=None)
    db.execute("PRAGMA busy_timeout = 60000")
    return db


def init(path, mode):
    db = connect(path)
    got = db.execute("PRAGMA journal_mode = %s" % ("wal" if mode == "wal" else "delete")).fetchone()[0]
    if got != mode:
        sys.exit("journal_mode is %s, wanted %s" % (got, mode))
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, worker INT NOT NULL, seq INT NOT NULL, payload BLOB NOT NULL)")
    db.execute("CREATE INDEX t_ws ON t (worker, seq)")
    db.execute("CREATE TABLE counters (worker INT PRIMARY KEY, n INT NOT NULL)")
    for w in range(64):
        db.execute("INSERT INTO counters VALUES (?, 0)", (w,))
    db.close()
    print(got)


def run(path, worker, seconds, acks, rows):
    db = connect(path)
    db.execute("PRAGMA synchronous = FULL")
    mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    deadline = time.monotonic() + seconds
    seq = 0
    reads = 0
    with open(acks, "a") as ack:
        while time.monotonic() < deadline:
            seq += 1
            db.execute("BEGIN IMMEDIATE")
            for _ in range(rows):
                db.execute("INSERT INTO t (worker, seq, payload) VALUES (?, ?, randomblob(?))",
                           (worker, seq, random.randint(100, 3000)))
            db.execute("UPDATE counters SET n = n + ? WHERE worker = ?", (rows, worker))
            db.execute("COMMIT")
            ack.write("%d %d %d\n" % (worker, seq, rows))
            ack.flush()
            db.execute("BEGIN")
            total = db.execute("SELECT count(*) FROM t").fetchone()[0]
            counted = db.execute("SELECT sum(n) FROM counters").fetchone()[0]
            mine = db.execute("SELECT count(*) FROM t WHERE worker = ? AND seq = ?", (worker, seq)).fetchone()[0]
            db.execute("COMMIT")
            reads += 1
            if total != counted or mine != rows:
                sys.exit("inconsistent snapshot: count(t)=%d sum(n)=%d rows of seq %d: %d" % (total, counted, seq, mine))
    db.close()
    print("worker %d (%s): %d write transactions, %d read transactions" % (worker, mode, seq, reads))


def check(path, ack_files):
    db = connect(path)
    ic = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
    if ic != ["ok"]:
        sys.exit("integrity_check: %s" % ic[:20])
    total = db.execute("SELECT count(*) FROM t").fetchone()[0]
    counted = db.execute("SELECT sum(n) FROM counters").fetchone()[0]
    if total != counted:
        sys.exit("count(t)=%d but sum(counters.n)=%d" % (total, counted))
    have = {}
    for w, s, n in db.execute("SELECT worker, seq, count(*) FROM t GROUP BY worker, seq"):
        have[(w, s)] = n
    acked = 0
    for f in ack_files:
        with open(f) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) != 3:
                    continue  # a line cut by SIGKILL was never acknowledged
                w, s, n = map(int, parts)
                acked += 1
                if have.get((w, s)) != n:
                    sys.exit("acknowledged transaction worker %d seq %d: %s rows of %d" % (w, s, have.get((w, s)), n))
    mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    print("ok: %s, %d rows, %d transactions, %d acknowledged ones all present" % (mode, total, len(have), acked))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "init":
        init(sys.argv[2], sys.argv[3])
    elif cmd == "run":
        run(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], int(sys.argv[6]) if len(sys.argv) > 6 else 5)
    elif cmd == "check":
        check(sys.argv[2], sys.argv[3:])
    else:
        sys.exit("usage: see the docstring")
