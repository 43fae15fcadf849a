#!/usr/bin/env python3
"""receiver.py - a VMS's webhook endpoint (or the seed's environment-info
server) for the outbox tests: it de-duplicates by delivery id and checks
signatures itself.

usage: receiver.py --port P --out FILE [--fail-first N] [--secret whsec_...]

Every POST is recorded in FILE as one JSON line: {"id", "ts", "sig",
"path", "body", "status", "t"} (status: what it answered).  The first N
POSTs are answered 500 (a receiver having trouble: they must be retried),
the rest 200.  With --secret, a signature that does not verify with the
Standard Webhooks algorithm (HMAC-SHA256 over "id.timestamp.body", the
secret's base64 after "whsec_", compared as "v1,<base64>") is answered 401
and recorded as "sig_ok": false.  Binds 127.0.0.1 only.
"""
import base64, hashlib, hmac, http.server, json, sys, threading, time

args = sys.argv[1:]
opt = {"--port": None, "--out": None, "--fail-first": "0", "--secret": ""}
for i in range(0, len(args), 2):
    opt[args[i]] = args[i + 1]
port, out, fail_first, secret = int(opt["--port"]), opt["--out"], int(opt["--fail-first"]), opt["--secret"]
key = base64.b64decode(secret[len("whsec_"):]) if secret else None
lock = threading.Lock()
count = [0]


def verify(mid, ts, body, sig):
    mac = hmac.new(key, ("%s.%s." % (mid, ts)).encode() + body, hashlib.sha256).digest()
    want = "v1," + base64.b64encode(mac).decode()
    # The header may carry several space-separated signatures.
    return any(hmac.compare_digest(want, s) for s in (sig or "").split())


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as the outbox uses it

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        mid = self.headers.get("webhook-id", "")
        ts = self.headers.get("webhook-timestamp", "")
        sig = self.headers.get("webhook-signature", "")
        with lock:
            count[0] += 1
            status = 500 if count[0] <= fail_first else 200
        sig_ok = None
        if key is not None:
            sig_ok = verify(mid, ts, body, sig)
            if not sig_ok:
                status = 401
        rec = {"id": mid, "ts": ts, "sig": sig, "sig_ok": sig_ok, "path": self.path, "status": status,
               "body": body.decode("utf-8", "replace"), "t": time.time()}
        with lock, open(out, "a") as f:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


http.server.ThreadingHTTPServer.allow_reuse_address = True
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
