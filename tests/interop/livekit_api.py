"""LiveKit's Python server SDK (`livekit-api`) against streamcart's Twirp RoomService
and webhooks. An aiortc WHIP publisher (authorized by a LiveKit token) and an aiortc
WHEP viewer are the room's participants; every RoomService method is driven through
the SDK; tokens with the wrong key, expired or for another room are refused with 401;
webhooks are checked with the SDK's WebhookReceiver.

Usage: livekit_api.py BASE_URL   (env: LK_KEY, LK_SECRET, LK_WEBHOOK_PORT)
Exit 0 on success, 1 with a message on failure.
"""

import asyncio
import datetime
import os
import sys

import aiohttp
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack
from livekit import api

from aiortc_whip_whep import SyntheticVideo, negotiate

KEY, SECRET = os.environ["LK_KEY"], os.environ["LK_SECRET"]
ROOM = "lk-interop"
WANTED_EVENTS = {"room_started", "participant_joined", "track_published", "track_unpublished", "participant_left", "room_finished"}


def join_token(room, identity="obs"):
    return api.AccessToken(KEY, SECRET).with_identity(identity).with_grants(api.VideoGrants(room_join=True, room=room)).to_jwt()


async def webhook_sink(port, received):
    receiver = api.WebhookReceiver(api.TokenVerifier(KEY, SECRET))

    async def hook(request):
        body = await request.text()
        try:
            event = receiver.receive(body, request.headers.get("Authorization", ""))
        except Exception as e:  # a signature LiveKit's receiver refuses is a failure
            received.append(("REFUSED", str(e)))
            return web.Response(status=401)
        if request.content_type != "application/webhook+json":
            received.append(("REFUSED", f"content type {request.content_type}"))
        received.append((event.event, event.room.name))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def wait_until(predicate, seconds=20):
    for _ in range(seconds * 10):
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


async def raw_status(session, base, method, token, message):
    url = f"{base}/twirp/livekit.RoomService/{method}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/protobuf"}
    async with session.post(url, data=message.SerializeToString(), headers=headers) as res:
        body = await res.json(content_type=None)
        return res.status, body.get("code")


async def main(base):
    failures = []

    def check(ok, what):
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    received = []
    runner = await webhook_sink(int(os.environ["LK_WEBHOOK_PORT"]), received)
    lk = api.LiveKitAPI(url=base, api_key=KEY, api_secret=SECRET)
    pcs = []
    try:
        room = await lk.room.create_room(api.CreateRoomRequest(name=ROOM, metadata="m0", empty_timeout=60))
        check(room.name == ROOM and room.sid.startswith("RM_") and room.metadata == "m0", "CreateRoom returns the room")
        rooms = await lk.room.list_rooms(api.ListRoomsRequest())
        check(ROOM in [r.name for r in rooms.rooms], "ListRooms lists it")

        async with aiohttp.ClientSession() as session:
            publisher = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            publisher.addTransceiver(SyntheticVideo(320, 240), direction="sendonly")
            publisher.addTransceiver(AudioStreamTrack(), direction="sendonly")
            pcs.append(publisher)
            await negotiate(session, publisher, f"{base}/whip/{ROOM}", join_token(ROOM))
            viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            viewer.addTransceiver("video", direction="recvonly")
            viewer.addTransceiver("audio", direction="recvonly")
            pcs.append(viewer)
            await negotiate(session, viewer, f"{base}/whep/{ROOM}")

            async def both_active():
                people = (await lk.room.list_participants(api.ListParticipantsRequest(room=ROOM))).participants
                return len(people) == 2 and all(p.state == api.ParticipantInfo.State.ACTIVE for p in people)

            check(await wait_until(both_active), "ListParticipants shows the WHIP publisher and WHEP viewer, connected")
            people = (await lk.room.list_participants(api.ListParticipantsRequest(room=ROOM))).participants
            pub = next((p for p in people if p.is_publisher), None)
            view = next((p for p in people if not p.is_publisher), None)
            if pub is None or view is None:
                raise RuntimeError(f"participants: {people}")
            kinds = sorted(api.TrackType.Name(t.type) for t in pub.tracks)
            check(kinds == ["AUDIO", "VIDEO"], f"the publisher has an audio and a video track ({kinds})")

            got = await lk.room.get_participant(api.RoomParticipantIdentity(room=ROOM, identity=pub.identity))
            check(got.sid == pub.sid, "GetParticipant finds the publisher")

            updated = await lk.room.update_participant(
                api.UpdateParticipantRequest(room=ROOM, identity=pub.identity, metadata="host", name="Sam", attributes={"role": "seller"}))
            check(updated.metadata == "host" and updated.name == "Sam" and dict(updated.attributes) == {"role": "seller"}, "UpdateParticipant")

            video = next(t for t in pub.tracks if t.type == api.TrackType.VIDEO)
            muted = await lk.room.mute_published_track(api.MuteRoomTrackRequest(room=ROOM, identity=pub.identity, track_sid=video.sid, muted=True))
            check(muted.track.muted, "MutePublishedTrack mutes")
            unmuted = await lk.room.mute_published_track(api.MuteRoomTrackRequest(room=ROOM, identity=pub.identity, track_sid=video.sid, muted=False))
            check(not unmuted.track.muted, "MutePublishedTrack unmutes")

            await lk.room.update_subscriptions(
                api.UpdateSubscriptionsRequest(room=ROOM, identity=view.identity, track_sids=[t.sid for t in pub.tracks], subscribe=True))
            check(True, "UpdateSubscriptions (subscribe) is accepted")
            try:
                await lk.room.update_subscriptions(
                    api.UpdateSubscriptionsRequest(room=ROOM, identity=view.identity, track_sids=[video.sid], subscribe=False))
                check(False, "unsubscribing a WHEP viewer is refused")
            except api.TwirpError as e:
                check(e.code == "unimplemented" and e.status == 501, f"unsubscribing a WHEP viewer is unimplemented ({e.code} {e.status})")

            await lk.room.send_data(api.SendDataRequest(room=ROOM, data=b"hello", kind=api.DataPacket.Kind.RELIABLE, topic="chat"))
            check(True, "SendData is accepted")
            meta = await lk.room.update_room_metadata(api.UpdateRoomMetadataRequest(room=ROOM, metadata='{"sale":1}'))
            check(meta.metadata == '{"sale":1}', "UpdateRoomMetadata")

            # Refusals with LiveKit's status (401) and Twirp code.
            wrong = api.LiveKitAPI(url=base, api_key=KEY, api_secret="x" * 40)
            try:
                await wrong.room.list_rooms(api.ListRoomsRequest())
                check(False, "a token signed with the wrong secret is refused")
            except api.TwirpError as e:
                check(e.status == 401 and e.code == "unauthenticated", f"a token signed with the wrong secret is refused ({e.status} {e.code})")
            finally:
                await wrong.aclose()
            admin = api.VideoGrants(room_admin=True, room=ROOM)
            expired = api.AccessToken(KEY, SECRET).with_grants(admin).with_ttl(datetime.timedelta(seconds=-120)).to_jwt()
            other = api.AccessToken(KEY, SECRET).with_grants(api.VideoGrants(room_admin=True, room="another-room")).to_jwt()
            request = api.ListParticipantsRequest(room=ROOM)
            for what, token in (("expired", expired), ("for another room", other)):
                status, code = await raw_status(session, base, "ListParticipants", token, request)
                check((status, code) == (401, "unauthenticated"), f"a token {what} is refused ({status} {code})")

            await lk.room.remove_participant(api.RoomParticipantIdentity(room=ROOM, identity=pub.identity))
            left = (await lk.room.list_participants(api.ListParticipantsRequest(room=ROOM))).participants
            check(pub.identity not in [p.identity for p in left], "RemoveParticipant ends the publisher")

        await lk.room.delete_room(api.DeleteRoomRequest(room=ROOM))
        rooms = await lk.room.list_rooms(api.ListRoomsRequest())
        check(ROOM not in [r.name for r in rooms.rooms], "DeleteRoom removes it from ListRooms")

        async def all_events():
            return WANTED_EVENTS <= {e for e, _ in received}

        await wait_until(all_events)
        refused = [detail for e, detail in received if e == "REFUSED"]
        check(not refused, f"every webhook passes WebhookReceiver ({refused[:1]})")
        seen = {e for e, _ in received}
        check(WANTED_EVENTS <= seen, f"webhooks received: {sorted(seen)}")
    finally:
        for pc in pcs:
            await pc.close()
        await lk.aclose()
        await runner.cleanup()

    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1].rstrip("/"))))
