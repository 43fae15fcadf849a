#!/usr/bin/env python3
"""A stand-in for the seed's monitoring server, for tests/forecast/usage_post.sh.

    usage_receiver.py PORT OUTFILE [ok|hang]

ok:   answers every POST with 200 and appends one JSON line per request to
      OUTFILE: {"path", "content_type", "body"} (body as received, decoded).
hang: accepts connections and never answers (a slow/dead receiver).
Binds 127.0.0.1 only.
"""
import http.server
import json
import socket
import sys
import threading
import time

port, out, mode = int(sys.argv[1]), sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "ok")

if mode == "hang":
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    held = []
    while True:
        c, _ = srv.accept()
        held.append(c)          # never read, never answer
        with open(out, "a") as f:
            f.write(json.dumps({"hang": True, "t": time.time()}) + "\n")


class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        with open(out, "a") as f:
            f.write(json.dumps({"path": self.path, "t": time.time(),
                                "content_type": self.headers.get("Content-Type", ""),
                                "body": body}, ensure_ascii=False) + "\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"code":"0000"}')

    def log_message(self, *a):
        pass


http.server.ThreadingHTTPServer.allow_reuse_address = True
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
