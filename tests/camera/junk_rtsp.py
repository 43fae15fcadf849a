#!/usr/bin/python3
"""junk_rtsp.py - a hostile "camera" for tests/camera/garbage_lo.sh: it
accepts RTSP connections and answers each with a different kind of junk,
in turn:

  0 random bytes at once
  1 an RTSP status line, then junk headers and a huge Content-Length
  2 well-formed OPTIONS/DESCRIBE replies with a broken SDP
  3 a complete handshake (H.264 SDP, SETUP, PLAY), then interleaved "RTP"
    of random bytes ($-framed, plausible and absurd lengths)
  4 a complete handshake, then RTP packets with valid headers and random
    H.264 NAL units (the decoder gets garbage, not the demuxer)
  5 nothing at all (the connection hangs until the client gives up)
  6 an immediate close

usage: junk_rtsp.py --port P [--addr 127.0.0.1] [--seconds S] [--ready FILE]
Prints one line per connection served ("conn N mode M") on stdout.
"""
import argparse
import os
import random
import re
import socket
import struct
import sys
import threading
import time

SDP_OK = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=junk\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n"
          "c=IN IP4 0.0.0.0\r\na=rtpmap:96 H264/90000\r\n"
          "a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z2QAH6y0AoAt2AtQICBaUAAAAwAQAAADAyDxgyo=,aO8Pyw==\r\n"
          "a=control:stream=0\r\n")


def reply(cseq, body="", extra=""):
    h = "RTSP/1.0 200 OK\r\nCSeq: %s\r\n%s" % (cseq, extra)
    if body:
        h += "Content-Type: application/sdp\r\nContent-Length: %d\r\n" % len(body)
    return (h + "\r\n" + body).encode()


def read_request(c, buf):
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d:
            return None, b""
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    text = head.decode("latin-1")
    m = re.search(r"CSeq:\s*(\d+)", text, re.I)
    return (text.split(" ", 1)[0], m.group(1) if m else "1"), rest


def handshake(c, rng, broken_sdp=False):
    buf = b""
    while True:
        req, buf = read_request(c, buf)
        if not req:
            return False
        verb, cseq = req
        if verb == "OPTIONS":
            c.sendall(reply(cseq, extra="Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n"))
        elif verb == "DESCRIBE":
            sdp = SDP_OK
            if broken_sdp:
                sdp = "".join(chr(rng.randrange(32, 127)) for _ in range(rng.randrange(1, 400)))
                sdp = rng.choice([sdp, "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/0\r\na=fmtp:96 " + sdp,
                                  "v=0\r\nm=video -1 XX/YY 999\r\n"])
            c.sendall(reply(cseq, sdp, "Content-Base: rtsp://127.0.0.1/x/\r\n"))
            if broken_sdp:
                return False
        elif verb == "SETUP":
            c.sendall(reply(cseq, extra="Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 1234\r\n"))
        elif verb == "PLAY":
            c.sendall(reply(cseq, extra="Session: 1234\r\nRange: npt=0-\r\n"))
            return True
        else:
            c.sendall(reply(cseq))


def serve(c, mode, rng, stop):
    try:
        c.settimeout(10)
        if mode == 0:
            c.sendall(os.urandom(rng.randrange(1, 65536)))
        elif mode == 1:
            c.recv(4096)
            c.sendall(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 999999999\r\n" +
                      os.urandom(2000).replace(b"\r\n\r\n", b"xxxx") + b"\r\n\r\n" + os.urandom(5000))
        elif mode == 2:
            handshake(c, rng, broken_sdp=True)
        elif mode in (3, 4):
            if handshake(c, rng):
                seq = 0
                end = time.time() + 6
                while time.time() < end and not stop.is_set():
                    if mode == 3:
                        n = rng.choice([0, 1, 12, rng.randrange(0, 65536)])
                        payload = os.urandom(min(n, 4000))
                        c.sendall(b"$" + bytes([rng.randrange(0, 4)]) + struct.pack(">H", n) + payload)
                    else:
                        nal = bytes([rng.choice([0x65, 0x41, 0x67, 0x68, 0x7c, 0x5c, 0x01])]) + os.urandom(
                            rng.randrange(1, 1400))
                        rtp = struct.pack(">BBHII", 0x80, 0x60 | (0x80 if rng.random() < 0.3 else 0), seq & 0xffff,
                                          seq * 3600, 0x1234) + nal
                        seq += 1
                        c.sendall(b"$\x00" + struct.pack(">H", len(rtp)) + rtp)
                    time.sleep(0.005)
        elif mode == 5:
            stop.wait(20)
        # mode 6: close at once
    except OSError:
        pass
    finally:
        try:
            c.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--ready")
    a = ap.parse_args()
    rng = random.Random(1234)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.addr, a.port))
    s.listen(64)
    s.settimeout(0.5)
    if a.ready:
        open(a.ready, "w").close()
    stop = threading.Event()
    end = time.time() + a.seconds
    n = 0
    while time.time() < end:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        mode = n % 7
        print("conn %d mode %d" % (n, mode), flush=True)
        threading.Thread(target=serve, args=(c, mode, random.Random(n), stop), daemon=True).start()
        n += 1
    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
