#!/usr/bin/python3
"""rtsp_server.py - a real RTSP camera for the camera tests: GStreamer's RTSP
server (GstRtspServer through PyGObject) serving an H.264 file at the seed's
Axis and ONVIF paths.

usage: rtsp_server.py --port P --file VIDEO.mp4 [--addr 127.0.0.1]
                      [--paths /axis-media/media.amp,/onvif-media/media.amp]
                      [--ready FILE] [--shared]

Each client gets its own pipeline (unless --shared): the file plays from its
start at real time (filesrc ! qtdemux ! h264parse ! identity sync=true !
rtph264pay), never ahead of it, like a live camera; so a camera
that (re)connects starts on a keyframe, like a camera after a reboot.

Signals: SIGTERM/SIGINT stop it; SIGUSR1 drops every client session (the
stream breaks, as when a camera's encoder restarts) and keeps serving.
--ready FILE is written once the server listens.
"""
import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--paths", default="/axis-media/media.amp,/onvif-media/media.amp")
    ap.add_argument("--ready")
    ap.add_argument("--shared", action="store_true")
    a = ap.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(a.addr)
    server.set_service(str(a.port))
    mounts = server.get_mount_points()
    # identity sync=true paces the file at its own clock: like a real
    # camera, the server never sends ahead of "now" (a file source would
    # otherwise run seconds ahead into the socket buffers, and a frozen
    # server would still deliver frames for as long).
    launch = ("( filesrc location=%s ! qtdemux ! h264parse config-interval=-1 ! identity sync=true "
              "! rtph264pay name=pay0 pt=96 config-interval=-1 )" % a.file)
    for path in a.paths.split(","):
        f = GstRtspServer.RTSPMediaFactory()
        f.set_launch(launch)
        f.set_shared(a.shared)
        mounts.add_factory(path, f)
    if server.attach(None) == 0:
        print("rtsp_server: cannot listen on %s:%d" % (a.addr, a.port), file=sys.stderr)
        return 1
    loop = GLib.MainLoop()

    def drop_clients():
        server.client_filter(lambda srv, client, data=None: GstRtspServer.RTSPFilterResult.REMOVE)
        return True   # keep the handler for the next SIGUSR1

    def stop():
        loop.quit()
        return False

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, stop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGUSR1, drop_clients)
    if a.ready:
        tmp = a.ready + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("%d\n" % os.getpid())
        os.rename(tmp, a.ready)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
