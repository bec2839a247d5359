"""LiveKit's Python client SDK (`livekit` 1.2, the Rust SDK with libwebrtc inside)
joining streamcart over /rtc.

1. Two SDK participants join one room: "pub" publishes a synthetic video track
   (rtc.VideoSource) and sends data (publish_data); "sub" receives decoded frames
   and the data, with pub's identity.
   An aiortc WHEP viewer watches pub's video, and shows in sub's room as a participant.
   A participant publishing a loud tone through rtc.AudioSource is announced to the
   other as an active speaker (speakers_changed, from RFC 6464 audio levels).
2. An aiortc WHIP publisher (authorized by a LiveKit token) is seen by an SDK
   subscriber as a participant (the token's identity) with its tracks, and its video
   frames are decoded.

Usage: livekit_sdk.py BASE_URL   (env: LK_KEY, LK_SECRET)
Exit 0 on success, 1 with a message on failure.
"""

import asyncio
import os
import sys

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack
from livekit import api, rtc

from aiortc_whip_whep import SyntheticVideo, negotiate

KEY, SECRET = os.environ["LK_KEY"], os.environ["LK_SECRET"]
FRAMES_WANTED = 10
DEADLINE_S = 40


def token(room, identity, **grants):
    return api.AccessToken(KEY, SECRET).with_identity(identity).with_name(identity.title()).with_grants(
        api.VideoGrants(room_join=True, room=room, **grants)).to_jwt()


class Receiver:
    """Counts decoded video frames and data packets a room delivers."""

    def __init__(self, room):
        self.frames = 0
        self.size = None
        self.data = []
        self.tracks = []
        self.tasks = []
        room.on("track_subscribed", self.on_track)
        room.on("data_received", self.on_data)

    def on_track(self, track, publication, participant):
        self.tracks.append((participant.identity, track.kind))
        if track.kind == rtc.TrackKind.KIND_VIDEO:
            self.tasks.append(asyncio.ensure_future(self.count(rtc.VideoStream(track))))

    async def count(self, stream):
        async for event in stream:
            self.frames += 1
            self.size = (event.frame.width, event.frame.height)

    def on_data(self, packet):
        who = packet.participant.identity if packet.participant else None
        self.data.append((who, bytes(packet.data), packet.topic))


async def wait_until(predicate, seconds=DEADLINE_S):
    for _ in range(seconds * 10):
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return False


async def feed(source, width, height, stop):
    n = 0
    while not stop.is_set():
        n += 1
        buf = bytearray(width * height * 4)
        shade = (n * 8) % 256
        buf[0::4] = bytes([shade]) * (width * height)
        buf[1::4] = bytes([128]) * (width * height)
        buf[3::4] = bytes([255]) * (width * height)
        source.capture_frame(rtc.VideoFrame(width, height, rtc.VideoBufferType.RGBA, bytes(buf)))
        await asyncio.sleep(1 / 15)


async def whep_frames(session, base, room_name, identity):
    """An aiortc WHEP viewer of the room; returns its peer connection and the frame sizes it decodes."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    frames = []

    @pc.on("track")
    def on_track(track):
        async def pump():
            while True:
                try:
                    frame = await track.recv()
                except Exception:
                    return
                if track.kind == "video":
                    frames.append((frame.width, frame.height))

        asyncio.ensure_future(pump())

    await negotiate(session, pc, f"{base}/whep/{room_name}", token(room_name, identity, can_publish=False))
    return pc, frames


async def two_sdk_participants(base, ws_url, check):
    room_name = "lk-sdk-pair"
    sub = rtc.Room()
    receiver = Receiver(sub)
    await sub.connect(ws_url, token(room_name, "sub"))
    check(sub.connection_state == rtc.ConnectionState.CONN_CONNECTED, "the subscriber joined")
    pub = rtc.Room()
    await pub.connect(ws_url, token(room_name, "pub"))
    check(await wait_until(lambda: "pub" in sub.remote_participants, 10), "the subscriber sees the publisher join")

    source = rtc.VideoSource(320, 240)
    track = rtc.LocalVideoTrack.create_video_track("camera", source)
    stop = asyncio.Event()
    feeder = asyncio.ensure_future(feed(source, 320, 240, stop))
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=False)
    await pub.local_participant.publish_track(track, options)
    check(True, "the publisher published a video track")

    got_frames = await wait_until(lambda: receiver.frames >= FRAMES_WANTED)
    check(got_frames, f"the subscriber decoded {receiver.frames} frames of pub's video ({receiver.size})")

    async with aiohttp.ClientSession() as session:
        viewer, frames = await whep_frames(session, base, room_name, "player")
        try:
            check(await wait_until(lambda: len(frames) >= FRAMES_WANTED), f"a WHEP viewer decoded {len(frames)} frames of the SDK publisher's video")
            check(await wait_until(lambda: "player" in sub.remote_participants, 10),
                  f"the WHEP viewer is a participant under its token's identity ({list(sub.remote_participants)})")
        finally:
            await viewer.close()

    await pub.local_participant.publish_data(b"hello from pub", reliable=True, topic="greeting")
    got_data = await wait_until(lambda: len(receiver.data) >= 1, 10)
    check(got_data and receiver.data[0] == ("pub", b"hello from pub", "greeting"), f"the subscriber got pub's data packet ({receiver.data})")

    back = []
    pub.on("data_received", lambda p: back.append((p.participant.identity if p.participant else None, bytes(p.data))))
    await sub.local_participant.publish_data(b"hello back", reliable=True, topic="greeting", destination_identities=["pub"])
    check(await wait_until(lambda: len(back) >= 1, 10) and back[0] == ("sub", b"hello back"), f"data flows the other way too ({back})")

    await pub.disconnect()
    check(await wait_until(lambda: "pub" not in sub.remote_participants, 10), "the subscriber sees the publisher leave")
    stop.set()
    await feeder
    await sub.disconnect()
    for task in receiver.tasks:
        task.cancel()


async def tone(source, stop):
    """A loud 440 Hz tone in 10 ms frames."""
    import math
    n = 0
    while not stop.is_set():
        frame = rtc.AudioFrame.create(48000, 1, 480)
        samples = frame.data  # int16 samples
        for i in range(480):
            samples[i] = int(20000 * math.sin(2 * math.pi * 440 * (n + i) / 48000))
        n += 480
        await source.capture_frame(frame)


async def speaker_announced(ws_url, check):
    room_name = "lk-sdk-speaker"
    sub = rtc.Room()
    speakers = []
    sub.on("active_speakers_changed", lambda people: speakers.append([p.identity for p in people]))
    await sub.connect(ws_url, token(room_name, "listener", can_publish=False))
    pub = rtc.Room()
    await pub.connect(ws_url, token(room_name, "singer"))
    source = rtc.AudioSource(48000, 1)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    stop = asyncio.Event()
    feeder = asyncio.ensure_future(tone(source, stop))
    try:
        await pub.local_participant.publish_track(track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
        check(await wait_until(lambda: ["singer"] in speakers, 20), f"the listener is told the singer speaks ({speakers})")
    finally:
        stop.set()
        await feeder
        await pub.disconnect()
        await sub.disconnect()


async def whip_seen_by_sdk(base, ws_url, check):
    room_name = "lk-sdk-whip"
    async with aiohttp.ClientSession() as session:
        publisher = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        publisher.addTransceiver(SyntheticVideo(320, 240), direction="sendonly")
        publisher.addTransceiver(AudioStreamTrack(), direction="sendonly")
        # The room is created by the SDK participant's join; WHIP publishes into it.
        sub = rtc.Room()
        receiver = Receiver(sub)
        await sub.connect(ws_url, token(room_name, "watcher", can_publish=False))
        try:
            await negotiate(session, publisher, f"{base}/whip/{room_name}", token(room_name, "obs"))
            check(await wait_until(lambda: "obs" in sub.remote_participants and sub.remote_participants["obs"].track_publications, 15),
                  f"the SDK subscriber sees the WHIP publisher, identity 'obs', with its tracks ({list(sub.remote_participants)})")
            got = await wait_until(lambda: receiver.frames >= FRAMES_WANTED)
            check(got, f"the SDK subscriber decoded {receiver.frames} frames from the WHIP publisher ({receiver.size}; tracks {receiver.tracks})")
        finally:
            await publisher.close()
            await sub.disconnect()
            for task in receiver.tasks:
                task.cancel()


async def main(base):
    failures = []

    def check(ok, what):
        print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if not ok:
            failures.append(what)

    ws_url = base.replace("http://", "ws://").replace("https://", "wss://")
    await asyncio.wait_for(two_sdk_participants(base, ws_url, check), 120)
    await asyncio.wait_for(speaker_announced(ws_url, check), 60)
    await asyncio.wait_for(whip_seen_by_sdk(base, ws_url, check), 60)
    if failures:
        print(f"  {len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
