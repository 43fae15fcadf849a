#!/usr/bin/env python3
"""idle_conns.py - hold many idle connections to an API, then time a normal
client; or check the per-address cap.

usage: idle_conns.py --port P --token-file F --conns N --sources K
                     [--hold-s S] [--per-ip-probe M]

Opens N TCP connections to 127.0.0.1:P that never send a byte, spread over
K source addresses 127.0.1.1..127.0.1.K (the loopback network answers on
all of 127/8), so that a per-address cap does not refuse them: they are
accepted and held, the case that must not starve anyone.  Then, from
127.0.0.1, 20 GET /api/v1/state with the token, one after another, each
timed; prints "accepted A of N; normal client: max X ms".  Exit 1 when a
GET failed or took 1 s or more, or fewer than 90 % were accepted.
With --hold-s: keeps the idle ones open that long, then reports how many
the server has closed (an idle timeout).
--per-ip-probe M: first open M connections from one address (127.0.2.1),
send a request on each, and report how many were answered (the rest were
refused by the per-address cap).
"""
import http.client, select, socket, sys, time

o = {"--hold-s": "0", "--per-ip-probe": "0", "--sources": "20"}
a = sys.argv[1:]
for i in range(0, len(a), 2):
    o[a[i]] = a[i + 1]
port, n, k = int(o["--port"]), int(o["--conns"]), int(o["--sources"])
token = open(o["--token-file"]).read().strip()
rc = 0

probe = int(o["--per-ip-probe"])
if probe:
    held = []
    for i in range(probe):
        s = socket.socket()
        s.bind(("127.0.2.1", 0))
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            held.append(s)
        except OSError:
            pass
    answered = 0
    for s in held:
        try:
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            if s.recv(12).startswith(b"HTTP/1.1 200"):
                answered += 1
        except OSError:
            pass
    print("per-address: %d connections from one address, %d answered" % (probe, answered))
    for s in held:
        s.close()

conns = []
for i in range(n):
    s = socket.socket()
    s.bind(("127.0.1.%d" % (1 + i % k), 0))
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    conns.append(s)
time.sleep(1.0)   # let the server accept them all
# An accepted connection is one the server has not closed.
r, _, _ = select.select(conns, [], [], 0)
closed = 0
for s in r:
    try:
        if s.recv(1, socket.MSG_PEEK) == b"":
            closed += 1
    except OSError:
        closed += 1
accepted = n - closed
worst = 0.0
for i in range(20):
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/api/v1/state", headers={"Authorization": "Bearer " + token})
        resp = c.getresponse()
        resp.read()
        c.close()
        ok = resp.status == 200
    except OSError:
        ok = False
    dt = (time.monotonic() - t0) * 1000
    worst = max(worst, dt)
    if not ok:
        print("normal client: GET %d failed" % i)
        rc = 1
print("idle: %d connections from %d addresses, %d accepted; normal client: 20 GETs, max %.1f ms" %
      (n, k, accepted, worst))
if worst >= 1000 or accepted < n * 0.9:
    rc = 1
hold = float(o["--hold-s"])
if hold:
    time.sleep(hold)
    r, _, _ = select.select(conns, [], [], 0)
    gone = 0
    for s in r:
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                gone += 1
        except OSError:
            gone += 1
    print("after %.0f s idle: %d of %d closed by the server" % (hold, gone, accepted))
for s in conns:
    s.close()
sys.exit(rc)
