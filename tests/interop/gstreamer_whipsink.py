"""GStreamer `whipsink` (gst-plugins-rs, built from crates.io) publishes H.264 +
Opus with the room's stream key, the way OBS does; an aiortc WHEP viewer must
decode H.264 frames of the published size.

Usage: gstreamer_whipsink.py BASE_URL   (GST_PLUGIN_PATH must find whipsink)
"""

import asyncio
import os
import signal
import subprocess
import sys
import uuid

import aiohttp

from aiortc_whip_whep import FRAMES_WANTED, api, view

WIDTH, HEIGHT = 640, 360
DEADLINE_S = 60


async def wait_live(session, base, room):
    for _ in range(200):
        body = await api(session, "GET", f"{base}/api/v1/rooms/{room}")
        if body["status"] == "live":
            return True
        await asyncio.sleep(0.1)
    return False


async def main(base):
    suffix = uuid.uuid4().hex[:8]
    async with aiohttp.ClientSession() as session:
        seller = await api(session, "POST", f"{base}/api/v1/auth/register",
                           json={"email": f"obs-{suffix}@example.com", "password": "correct horse battery staple", "display_name": "OBS"})
        token = seller["access_token"]
        await api(session, "POST", f"{base}/api/v1/shops", token, json={"slug": f"obs-{suffix}", "name": "OBS"})
        body = await api(session, "POST", f"{base}/api/v1/shops/obs-{suffix}/rooms", token, json={"name": f"obs-{suffix}", "title": "OBS"})
        room, key = body["room"]["name"], body["stream_key"]

        pipeline = (
            f"videotestsrc is-live=true pattern=ball ! video/x-raw,width={WIDTH},height={HEIGHT},framerate=30/1 ! videoconvert "
            "! openh264enc ! h264parse ! rtph264pay config-interval=-1 pt=102 "
            "! application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000 ! whip.sink_0 "
            "audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc ! rtpopuspay pt=111 "
            "! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! whip.sink_1 "
            f"whipsink name=whip whip-endpoint={base}/whip/{room} auth-token={key}"
        )
        log = open(os.environ.get("GST_LOG_FILE", "/dev/null"), "w")
        gst = subprocess.Popen(["gst-launch-1.0", "-e", *pipeline.split()], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            if not await wait_live(session, base, room):
                print(f"FAILED: the room never went live (gst-launch exit {gst.poll()})")
                return 1
            pc, location, got, done = await view(session, base, room)
            try:
                await asyncio.wait_for(done.wait(), DEADLINE_S)
            except asyncio.TimeoutError:
                pass
            video = pc.getTransceivers()[0].receiver
            sizes = set(got["video"])
            print(f"  {room}: {len(got['video'])} video frames {sorted(sizes)}, {got['audio']} audio frames")
            await pc.close()
            if not done.is_set():
                print(f"FAILED: only {len(got['video'])} video / {got['audio']} audio frames in {DEADLINE_S}s")
                return 1
            if sizes != {(WIDTH, HEIGHT)}:
                print(f"FAILED: decoded sizes {sorted(sizes)}, expected {(WIDTH, HEIGHT)}")
                return 1
            print("  whipsink's H.264 decoded by the WHEP viewer")
            return 0
        finally:
            try:
                os.killpg(gst.pid, signal.SIGINT)
                gst.wait(timeout=10)
            except Exception:
                os.killpg(gst.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    sys.exit(asyncio.run(main(sys.argv[1].rstrip("/"))))
