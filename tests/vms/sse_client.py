#!/usr/bin/env python3
"""sse_client.py - a VMS's event subscriber over Server-Sent Events, as a
test uses it: GET /api/v1/events/stream with the bearer token, resuming
from the last event it has written (Last-Event-ID), for ever.

usage: sse_client.py --api http://HOST:PORT --token-file F --out FILE
                     [--seconds S] [--latency FILE] [--ready FILE]

FILE gets one line per event received: {"id": "EPOCH-SEQ", "topic": ...,
"seq": N, "epoch": E, "session": PID}, written and flushed before the next
is read.  On start (and after every lost connection) the client resumes
after the id on FILE's last complete line, so a client killed at any moment
and started again loses nothing; what it had received but not yet written
comes again (a duplicate across the resume, which the check allows).  A
connection that fails (the box is restarting) is retried every 100 ms.
--latency: also write "seq arrival_ms - ts_ms" per event (the benchmark).
--ready: created once the stream is open (chaos.py waits for it before it
starts the clock of its next kill).
A 410 (the cursor is gone) ends it with exit 3: the test then fails.
"""
import http.client, json, os, signal, sys, time, urllib.parse


def last_id(path):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 65536))
            lines = f.read().split(b"\n")
    except FileNotFoundError:
        return None
    # The last line may be cut (killed mid-write): take the last whole one.
    for line in reversed(lines[:-1] if lines and lines[-1] != b"" else lines):
        try:
            return json.loads(line)["id"]
        except (ValueError, KeyError):
            continue
    return None


def main(argv):
    api = token_file = out = lat = ready = None
    seconds = 600.0
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--api":
            api = argv[i + 1]; i += 2
        elif a == "--token-file":
            token_file = argv[i + 1]; i += 2
        elif a == "--out":
            out = argv[i + 1]; i += 2
        elif a == "--seconds":
            seconds = float(argv[i + 1]); i += 2
        elif a == "--latency":
            lat = argv[i + 1]; i += 2
        elif a == "--ready":
            ready = argv[i + 1]; i += 2
        else:
            print(__doc__, file=sys.stderr); return 2
    if not api or not token_file or not out:
        print(__doc__, file=sys.stderr); return 2
    token = open(token_file).read().strip()
    u = urllib.parse.urlparse(api)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    end = time.monotonic() + seconds
    f = open(out, "a")
    lf = open(lat, "a") if lat else None
    pid = os.getpid()
    while not stop and time.monotonic() < end:
        cursor = last_id(out)
        headers = {"Authorization": "Bearer " + token, "Accept": "text/event-stream"}
        path = "/api/v1/events/stream"
        if cursor:
            headers["Last-Event-ID"] = cursor
        else:
            path += "?after=0"   # from the log's first event
        try:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            c.request("GET", path, headers=headers)
            r = c.getresponse()
        except OSError:
            time.sleep(0.1)
            continue
        if r.status == 410:
            print("sse_client: 410 %s" % r.read().decode(errors="replace"), file=sys.stderr)
            return 3
        if r.status != 200:
            print("sse_client: HTTP %d" % r.status, file=sys.stderr)
            time.sleep(0.1)
            continue
        if ready:
            open(ready, "a").close()
        ev = {}
        try:
            while not stop and time.monotonic() < end:
                line = r.fp.readline()
                if not line:
                    break   # the box went away: resume
                line = line.decode("utf-8").rstrip("\n")
                if line == "":
                    if "data" in ev and "id" in ev:
                        data = json.loads(ev["data"])
                        rec = {"id": ev["id"], "topic": ev.get("event", ""), "seq": data["seq"],
                               "epoch": data["epoch"], "session": pid}
                        f.write(json.dumps(rec) + "\n")
                        f.flush()
                        if lf:
                            lf.write("%d %d\n" % (data["seq"], int(time.time() * 1000) - data["ts_ms"]))
                            lf.flush()
                    ev = {}
                elif line.startswith(":"):
                    continue
                else:
                    k, _, v = line.partition(":")
                    ev[k] = v[1:] if v.startswith(" ") else v
        except (OSError, ValueError):
            pass
        try:
            c.close()
        except OSError:
            pass
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
