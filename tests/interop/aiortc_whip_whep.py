"""aiortc against the streamcart SFU: two rooms, each with a WHIP publisher of a
synthetic video (its own frame size) + audio track, and a WHEP viewer that must
decode frames of its own room's size (so rooms do not see each other's media).

Usage: aiortc_whip_whep.py BASE_URL
Exit 0 on success, 1 with a message on failure.
"""

import asyncio
import fractions
import sys
import time
import uuid

import aiohttp
import numpy
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import AudioStreamTrack
from av import VideoFrame

FRAMES_WANTED = 15
DEADLINE_S = 60


class SyntheticVideo(VideoStreamTrack):
    """A moving gradient of a fixed size."""

    def __init__(self, width, height):
        super().__init__()
        self.width, self.height = width, height
        self.n = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        self.n += 1
        img = numpy.zeros((self.height, self.width, 3), numpy.uint8)
        img[:, :, 0] = (numpy.arange(self.width) + self.n * 4) % 256
        img[:, :, 1] = 128
        frame = VideoFrame.from_ndarray(img, format="bgr24")
        frame.pts, frame.time_base = pts, time_base
        return frame


async def api(session, method, url, token=None, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, headers=headers, **kw) as res:
        body = await res.json(content_type=None)
        if res.status >= 300:
            raise RuntimeError(f"{method} {url} -> {res.status} {body}")
        return body


async def negotiate(session, pc, url, token=None):
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with session.post(url, data=pc.localDescription.sdp, headers=headers) as res:
        answer = await res.text()
        if res.status != 201:
            raise RuntimeError(f"POST {url} -> {res.status} {answer}")
        location = res.headers.get("Location")
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    except Exception:
        print(f"  the answer from {url} was refused by aiortc:\n{answer}\n  to the offer:\n{pc.localDescription.sdp}")
        raise
    return location


async def publish(session, base, room, token, width, height):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(SyntheticVideo(width, height), direction="sendonly")
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    location = await negotiate(session, pc, f"{base}/whip/{room}", token)
    return pc, location


async def view(session, base, room):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    got = {"video": [], "audio": 0}
    done = asyncio.Event()

    @pc.on("track")
    def on_track(track):
        async def pump():
            while True:
                try:
                    frame = await track.recv()
                except Exception:
                    return
                if track.kind == "video":
                    got["video"].append((frame.width, frame.height))
                else:
                    got["audio"] += 1
                if len(got["video"]) >= FRAMES_WANTED and got["audio"] >= FRAMES_WANTED:
                    done.set()

        asyncio.ensure_future(pump())

    location = await negotiate(session, pc, f"{base}/whep/{room}")
    return pc, location, got, done


async def main(base):
    suffix = uuid.uuid4().hex[:8]
    async with aiohttp.ClientSession() as session:
        seller = await api(session, "POST", f"{base}/api/v1/auth/register",
                           json={"email": f"seller-{suffix}@example.com", "password": "correct horse battery staple", "display_name": "Seller"})
        token = seller["access_token"]
        await api(session, "POST", f"{base}/api/v1/shops", token, json={"slug": f"shop-{suffix}", "name": "Interop"})
        rooms = {}
        for name, size in (("alpha", (320, 240)), ("beta", (640, 360))):
            body = await api(session, "POST", f"{base}/api/v1/shops/shop-{suffix}/rooms", token,
                             json={"name": f"{name}-{suffix}", "title": name})
            rooms[body["room"]["name"]] = (body["stream_key"], size)

        pcs = []
        viewers = {}
        for room, (key, (w, h)) in rooms.items():
            pc, _ = await publish(session, base, room, key, w, h)
            pcs.append(pc)
        for room in rooms:
            pc, location, got, done = await view(session, base, room)
            pcs.append(pc)
            viewers[room] = (got, done, location)

        started = time.monotonic()
        try:
            await asyncio.wait_for(asyncio.gather(*(d.wait() for (_, d, _) in viewers.values())), DEADLINE_S)
        except asyncio.TimeoutError:
            pass
        elapsed = time.monotonic() - started

        failures = []
        for room, (got, done, _) in viewers.items():
            want = rooms[room][1]
            sizes = set(got["video"])
            print(f"  {room}: {len(got['video'])} video frames {sorted(sizes)}, {got['audio']} audio frames, wanted {want}")
            if not done.is_set():
                failures.append(f"{room}: only {len(got['video'])} video / {got['audio']} audio frames in {DEADLINE_S}s")
            if sizes and sizes != {want}:
                failures.append(f"{room}: decoded sizes {sorted(sizes)}, expected only {want}")

        # DELETE ends the sessions (viewers first, then publishers) and the rooms' streams.
        for room, (_, _, location) in viewers.items():
            async with session.delete(f"{base}{location}") as res:
                if res.status != 200:
                    failures.append(f"DELETE {location} -> {res.status}")
        for pc in pcs:
            await pc.close()

        if failures:
            print("FAILED: " + "; ".join(failures))
            return 1
        print(f"  both rooms decoded their own frames in {elapsed:.1f}s")
        return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1].rstrip("/"))))
