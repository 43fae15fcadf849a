#!/usr/bin/env python3
"""membership_scan.py - read the agents' logfmt LOG_FILEs for the benchmark.

  snap FILE...                   print "OFFSET PATH" per file (its size now)
  wait SNAP EVENTS PEER T0 TIMEOUT
                                 poll (100 ms) the files listed in SNAP, from
                                 their offsets, until each has a line
                                 `event=E` (E in the comma list EVENTS) with
                                 `peer=PEER`; print "ok MAX_MS" or
                                 "timeout FOUND/TOTAL MAX_MS" where MAX_MS is
                                 the latest first-occurrence ts minus T0
                                 (wall ms).  Exit 0 when all were found.
  stats MS...                    print "p50 p99 max n" (nearest rank) in s
"""
import datetime
import math
import os
import re
import sys
import time

TS = re.compile(r"^ts=(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z ")


def ts_ms(line):
    m = TS.match(line)
    if not m:
        return None
    y, mo, d, h, mi, s, ms = map(int, m.groups())
    t = datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 1000 + ms


def cmd_snap(files):
    for f in files:
        try:
            size = os.path.getsize(f)
        except OSError:
            size = 0
        print(size, f)


def cmd_wait(snap, events, peer, t0, timeout):
    offs = {}
    with open(snap) as fh:
        for line in fh:
            off, path = line.rstrip("\n").split(" ", 1)
            offs[path] = int(off)
    evs = set("event=" + e for e in events.split(","))
    pk = "peer=" + peer
    found = {}
    partial = {p: "" for p in offs}
    deadline = time.time() + timeout
    while True:
        for path in offs:
            if path in found:
                continue
            try:
                with open(path, errors="replace") as fh:
                    fh.seek(offs[path])
                    data = fh.read()
                    offs[path] = fh.tell()
            except OSError:
                continue
            data = partial[path] + data
            lines = data.split("\n")
            partial[path] = lines.pop()  # incomplete last line
            for line in lines:
                words = line.split(" ")
                if pk in words and any(w in evs for w in words):
                    t = ts_ms(line)
                    if t is not None and t >= t0 - 50:
                        found[path] = t
                        break
        if len(found) == len(offs) or time.time() >= deadline:
            break
        time.sleep(0.1)
    mx = max(found.values()) - t0 if found else -1
    if len(found) == len(offs):
        print("ok", mx)
        return 0
    print("timeout %d/%d %d" % (len(found), len(offs), mx))
    return 1


def cmd_stats(vals):
    v = sorted(int(x) for x in vals)
    if not v:
        print("- - - 0")
        return

    def rank(p):
        return v[max(0, math.ceil(p * len(v)) - 1)] / 1000.0

    print("%.3f %.3f %.3f %d" % (rank(0.50), rank(0.99), v[-1] / 1000.0, len(v)))


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    c = sys.argv[1]
    if c == "snap":
        cmd_snap(sys.argv[2:])
        return 0
    if c == "wait" and len(sys.argv) == 7:
        return cmd_wait(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]))
    if c == "stats":
        cmd_stats(sys.argv[2:])
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
