"""LiveKit's JS client (`livekit-client` in headless Chromium, livekit_client_chromium.mjs)
publishes the fake camera into a streamcart room over /rtc; a Python SDK (`livekit`)
participant in the same room must decode its frames.

Usage: livekit_client_watch.py BASE_URL   (env: LK_KEY, LK_SECRET, LK_NODE_DIR, CHROMIUM)
Exit 0 on success, 1 with a message on failure.
"""

import asyncio
import os
import sys

from livekit import rtc

from livekit_sdk import FRAMES_WANTED, Receiver, token, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))


async def main(base):
    ws_url = base.replace("http://", "ws://").replace("https://", "wss://")
    room_name = "lk-js-camera"
    watcher = rtc.Room()
    receiver = Receiver(watcher)
    await watcher.connect(ws_url, token(room_name, "py-watcher", can_publish=False))
    node = await asyncio.create_subprocess_exec(
        "node", os.path.join(HERE, "livekit_client_chromium.mjs"), ws_url, token(room_name, "js-camera"),
        cwd=os.environ["LK_NODE_DIR"], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    failures = []
    try:
        line = ""
        while not line.startswith(("PUBLISHED", "FAILED")):
            raw = await asyncio.wait_for(node.stdout.readline(), 60)
            if not raw:
                break
            line = raw.decode().strip()
            print(f"  browser: {line[:300]}", flush=True)
        if not line.startswith("PUBLISHED"):
            failures.append("the JS client did not publish its camera")
        else:
            seen = await wait_until(lambda: "js-camera" in watcher.remote_participants, 15)
            print(f"  {'ok  ' if seen else 'FAIL'} the Python participant sees the JS participant", flush=True)
            got = await wait_until(lambda: receiver.frames >= FRAMES_WANTED, 40)
            print(f"  {'ok  ' if got else 'FAIL'} the Python participant decoded {receiver.frames} frames of the JS camera ({receiver.size})", flush=True)
            if not (seen and got):
                failures.append("frames")
    finally:
        if node.returncode is None:
            node.kill()
        await node.wait()
        await watcher.disconnect()
        for task in receiver.tasks:
            task.cancel()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
