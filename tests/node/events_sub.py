#!/usr/bin/env python3
"""events_sub.py - record an agent's event stream (ZeroMQ SUB) for a test.

usage: events_sub.py --connect tcp://HOST:PORT [--connect ...] --out FILE
                     [--prefix P] [--seconds S]

Subscribes to every topic (or the --prefix ones) and writes one line per
message to FILE: {"topic": ..., "body": HEX}, flushed at once, so the test
can read while it runs.  Stops after S seconds (default 120) or on SIGTERM.
libzmq through ctypes: the test machine has no pyzmq.
"""
import ctypes, ctypes.util, json, signal, sys, time

ZMQ_SUB, ZMQ_SUBSCRIBE, ZMQ_RCVMORE, ZMQ_RCVTIMEO, ZMQ_LINGER = 2, 6, 13, 27, 17


def main(argv):
    eps, out, prefix, seconds = [], None, b"", 120.0
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--connect":
            eps.append(argv[i + 1]); i += 2
        elif a == "--out":
            out = argv[i + 1]; i += 2
        elif a == "--prefix":
            prefix = argv[i + 1].encode(); i += 2
        elif a == "--seconds":
            seconds = float(argv[i + 1]); i += 2
        else:
            print(__doc__, file=sys.stderr); return 2
    if not eps or not out:
        print(__doc__, file=sys.stderr); return 2
    z = ctypes.CDLL(ctypes.util.find_library("zmq") or "libzmq.so.5")
    z.zmq_ctx_new.restype = ctypes.c_void_p
    z.zmq_socket.restype = ctypes.c_void_p
    z.zmq_socket.argtypes = [ctypes.c_void_p, ctypes.c_int]
    z.zmq_connect.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    z.zmq_setsockopt.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
    z.zmq_getsockopt.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
    z.zmq_recv.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    z.zmq_close.argtypes = [ctypes.c_void_p]
    z.zmq_ctx_term.argtypes = [ctypes.c_void_p]
    ctx = z.zmq_ctx_new()
    sock = z.zmq_socket(ctx, ZMQ_SUB)
    tmo = ctypes.c_int(200)
    z.zmq_setsockopt(sock, ZMQ_RCVTIMEO, ctypes.byref(tmo), ctypes.sizeof(tmo))
    zero = ctypes.c_int(0)
    z.zmq_setsockopt(sock, ZMQ_LINGER, ctypes.byref(zero), ctypes.sizeof(zero))
    z.zmq_setsockopt(sock, ZMQ_SUBSCRIBE, ctypes.c_char_p(prefix), len(prefix))
    for ep in eps:
        if z.zmq_connect(sock, ep.encode()) != 0:
            print("events_sub: cannot connect %s" % ep, file=sys.stderr); return 1
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    buf = ctypes.create_string_buffer(1 << 20)
    more = ctypes.c_int(0)
    msz = ctypes.c_size_t(ctypes.sizeof(more))
    end = time.monotonic() + seconds
    with open(out, "a") as f:
        while not stop and time.monotonic() < end:
            frames = []
            while True:
                n = z.zmq_recv(sock, buf, len(buf), 0)
                if n < 0:
                    break
                frames.append(buf.raw[:min(n, len(buf))])
                msz.value = ctypes.sizeof(more)
                z.zmq_getsockopt(sock, ZMQ_RCVMORE, ctypes.byref(more), ctypes.byref(msz))
                if not more.value:
                    break
            if not frames:
                continue
            rec = {"topic": frames[0].decode("utf-8", "replace"), "frames": len(frames),
                   "body": frames[1].hex() if len(frames) > 1 else ""}
            f.write(json.dumps(rec) + "\n")
            f.flush()
    z.zmq_close(sock)
    z.zmq_ctx_term(ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
