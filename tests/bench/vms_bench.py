#!/usr/bin/env python3
"""vms_bench.py - the measuring parts of tests/bench/vms.sh.

usage: vms_bench.py latency --api URL --pub tcp://HOST:PORT --token-file F
                            [--rate 500] [--secs 20]
       vms_bench.py state --api URL --token-file F [--n 2000]
       vms_bench.py fill --api URL --token-file F --count N
       vms_bench.py replay --api URL --token-file F --count N --pub tcp://... --mw MESHWATCH

latency: POSTs results (POST /api/v1/env, an env.report each) at RATE a
  second for SECS while an SSE client and a ZeroMQ SUB (libzmq through
  ctypes, the JSON family) receive them; per event: arrival wall clock -
  the event's ts_ms (stamped by the agent when the result was produced).
state: N GET /api/v1/state without If-None-Match, then N with the ETag
  (304), one keep-alive connection; per request: wall time.
fill: POST N results as fast as 16 connections go (the log to replay).
replay: from cursor 0, N events three ways: GET /api/v1/events pages of
  1000, the SSE stream, and `meshwatch events --since 0 --json --count N`;
  events per second for each.
Prints one line per measure: "name p50 p99 max n" (ms) or "name rate".
"""
import ctypes, ctypes.util, http.client, json, subprocess, sys, threading, time, urllib.parse


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1))   # nearest rank
    return xs[k]


def conn(api):
    u = urllib.parse.urlparse(api)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def sse_reader(api, token, after, want, out, stop, count_only=False):
    c = conn(api)
    path = "/api/v1/events/stream" + ("?after=%s" % after if after else "")   # no cursor: live from now
    c.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    data = None
    n = 0
    while not stop and n < want:
        line = r.fp.readline()
        if not line:
            break
        if line.startswith(b"data: "):
            data = line[6:]
        elif line == b"\n" and data is not None:
            now = time.time() * 1000
            if not count_only:
                ev = json.loads(data)
                if ev.get("event") == "report":
                    out.append(now - ev["ts_ms"])
            n += 1
            data = None
    out.append(None) if count_only else None
    c.close()
    return n


def zmq_reader(pub, out, stop, ready):
    z = ctypes.CDLL(ctypes.util.find_library("zmq") or "libzmq.so.5")
    z.zmq_ctx_new.restype = ctypes.c_void_p
    z.zmq_socket.restype = ctypes.c_void_p
    z.zmq_socket.argtypes = [ctypes.c_void_p, ctypes.c_int]
    z.zmq_connect.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    z.zmq_setsockopt.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
    z.zmq_recv.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    z.zmq_close.argtypes = [ctypes.c_void_p]
    ctx = z.zmq_ctx_new()
    s = z.zmq_socket(ctx, 2)   # SUB
    t = ctypes.c_int(200)
    z.zmq_setsockopt(s, 27, ctypes.byref(t), 4)   # RCVTIMEO
    z.zmq_setsockopt(s, 6, b"json.env.report", 15)   # SUBSCRIBE
    z.zmq_connect(s, pub.encode())
    buf = ctypes.create_string_buffer(1 << 16)
    ready.set()
    while not stop:
        n = z.zmq_recv(s, buf, len(buf), 0)   # topic
        if n < 0:
            continue
        n = z.zmq_recv(s, buf, len(buf), 0)   # body
        if n < 0:
            continue
        now = time.time() * 1000
        ev = json.loads(buf.raw[:n])
        out.append(now - ev["ts_ms"])
    z.zmq_close(s)


def post_env(c, token, i):
    c.request("POST", "/api/v1/env", body=json.dumps({"result": str(i % 10000)}),
              headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    return r.status


def producer(api, token, rate, secs, conns=8):
    total = int(rate * secs)
    t0 = time.monotonic()
    nxt = [0]
    lock = threading.Lock()

    def work():
        c = conn(api)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= total:
                return
            d = t0 + i / rate - time.monotonic()
            if d > 0:
                time.sleep(d)
            post_env(c, token, i)

    ts = [threading.Thread(target=work) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return total, time.monotonic() - t0


def main(argv):
    mode = argv[0]
    o = {"--rate": "500", "--secs": "20", "--n": "2000", "--count": "100000"}
    for i in range(1, len(argv), 2):
        o[argv[i]] = argv[i + 1]
    api = o["--api"]
    token = open(o["--token-file"]).read().strip()
    if mode == "latency":
        stop = []
        sse_lat, zmq_lat = [], []
        ready = threading.Event()
        tz = threading.Thread(target=zmq_reader, args=(o["--pub"], zmq_lat, stop, ready))
        tz.start()
        ready.wait()
        ts = threading.Thread(target=sse_reader, args=(api, token, "", 10 ** 9, sse_lat, stop))
        ts.start()
        time.sleep(1.0)   # both subscribed (ZeroMQ's slow joiner)
        total, took = producer(api, token, float(o["--rate"]), float(o["--secs"]))
        time.sleep(1.0)
        stop.append(1)
        # The SSE reader is blocked in readline: one more event wakes it.
        c = conn(api)
        post_env(c, token, 0)
        tz.join()
        ts.join(timeout=5)
        print("produced %d %.1f/s" % (total, total / took))
        for name, xs in (("sse", sse_lat), ("zmq", zmq_lat)):
            xs = xs[:total]
            print("%s %.1f %.1f %.1f %d" % (name, pct(xs, 50), pct(xs, 99), max(xs) if xs else float("nan"), len(xs)))
    elif mode == "state":
        n = int(o["--n"])
        c = conn(api)
        h = {"Authorization": "Bearer " + token}
        full, cond, etag, size, members = [], [], None, 0, 0
        for i in range(n):
            t0 = time.perf_counter()
            c.request("GET", "/api/v1/state", headers=h)
            r = c.getresponse()
            body = r.read()
            full.append((time.perf_counter() - t0) * 1000)
            etag = r.getheader("ETag")
            size = len(body)
            members = len(json.loads(body)["members"])
        n304 = 0
        for i in range(n):
            t0 = time.perf_counter()
            c.request("GET", "/api/v1/state", headers=dict(h, **{"If-None-Match": etag}))
            r = c.getresponse()
            r.read()
            cond.append((time.perf_counter() - t0) * 1000)
            if r.status == 304:
                n304 += 1
            else:
                etag = r.getheader("ETag")   # the snapshot moved on (once a second): take the new one
        print("state200 %.2f %.2f %.2f %d %d %d" % (pct(full, 50), pct(full, 99), max(full), n, size, members))
        print("state304 %.2f %.2f %.2f %d %d" % (pct(cond, 50), pct(cond, 99), max(cond), n, n304))
    elif mode == "fill":
        total = int(o["--count"])
        nxt = [0]
        lock = threading.Lock()

        def work():
            c = conn(api)
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= total:
                    return
                post_env(c, token, i)

        t0 = time.monotonic()
        ts = [threading.Thread(target=work) for _ in range(16)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        took = time.monotonic() - t0
        print("fill %d %.0f" % (total, total / took))
    elif mode == "replay":
        want = int(o["--count"])
        c = conn(api)
        h = {"Authorization": "Bearer " + token}
        t0 = time.monotonic()
        after, n = "0", 0
        while n < want:
            c.request("GET", "/api/v1/events?limit=1000&after=" + after, headers=h)
            r = c.getresponse()
            doc = json.loads(r.read())
            n += len(doc["events"])
            after = doc["next"]
            if not doc["more"]:
                break
        took = time.monotonic() - t0
        print("replay_list %d %.0f" % (n, n / took))
        t0 = time.monotonic()
        got = sse_reader(api, token, "0", want, [], [], count_only=True)
        took = time.monotonic() - t0
        print("replay_sse %d %.0f" % (got, got / took))
        t0 = time.monotonic()
        p = subprocess.run([o["--mw"], "events", "--connect", o["--pub"], "--since", "0", "--api", api,
                            "--token-file", o["--token-file"], "--json", "--count", str(want)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=600)
        took = time.monotonic() - t0
        lines = p.stdout.count(b"\n")
        print("replay_cli %d %.0f" % (lines, lines / took))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
