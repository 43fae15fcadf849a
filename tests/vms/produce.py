#!/usr/bin/env python3
"""produce.py - results for a box's event log: POST /api/v1/env N times.

usage: produce.py --api http://HOST:PORT --token-file F --count N
                  [--rate R] [--conns C] [--acked FILE]

Each POST carries a result code (i % 10000, as a string) and is answered
202 only once its env.report event is committed (docs/API.md): those are
the *acknowledged* events, written to FILE as "id result" lines.  C
connections (default 4) share the work; a connection that fails (the box
was killed) is opened again after 50 ms and the request sent again (a
request with no answer may or may not have been logged: it is not in
FILE).  --rate: at most R requests a second in all (0 = as fast as it
goes).  Prints "acked N in S s".
"""
import http.client, json, sys, threading, time, urllib.parse


def main(argv):
    api = token_file = acked = None
    count, rate, conns = 1000, 0.0, 4
    i = 0
    while i < len(argv):
        a, v = argv[i], argv[i + 1] if i + 1 < len(argv) else None
        if a == "--api": api = v
        elif a == "--token-file": token_file = v
        elif a == "--count": count = int(v)
        elif a == "--rate": rate = float(v)
        elif a == "--conns": conns = int(v)
        elif a == "--acked": acked = v
        else:
            print(__doc__, file=sys.stderr); return 2
        i += 2
    if not api or not token_file:
        print(__doc__, file=sys.stderr); return 2
    token = open(token_file).read().strip()
    u = urllib.parse.urlparse(api)
    lock = threading.Lock()
    nxt = [0]
    out = open(acked, "a") if acked else None
    done = [0]
    t0 = time.monotonic()

    def take():
        with lock:
            if nxt[0] >= count:
                return None
            n = nxt[0]
            nxt[0] += 1
            return n

    def worker():
        c = None
        while True:
            n = take()
            if n is None:
                break
            if rate > 0:
                due = t0 + n / rate
                d = due - time.monotonic()
                if d > 0:
                    time.sleep(d)
            body = json.dumps({"result": str(n % 10000)})
            while True:
                try:
                    if c is None:
                        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
                    c.request("POST", "/api/v1/env", body=body,
                              headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
                    r = c.getresponse()
                    data = r.read()
                    if r.status == 202:
                        rid = json.loads(data)["id"]
                        with lock:
                            done[0] += 1
                            if out:
                                out.write("%s %d\n" % (rid, n % 10000))
                                out.flush()
                        break
                    if r.status in (503,):
                        time.sleep(0.05)
                        continue
                    print("produce: HTTP %d %s" % (r.status, data[:200]), file=sys.stderr)
                    return
                except (OSError, http.client.HTTPException):
                    try:
                        c.close()
                    except Exception:
                        pass
                    c = None
                    time.sleep(0.05)

    ts = [threading.Thread(target=worker) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("acked %d in %.1f s" % (done[0], time.monotonic() - t0))
    return 0 if done[0] == count else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
