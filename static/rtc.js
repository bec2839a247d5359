// WHIP (publish) and WHEP (play) against this server's SFU (docs/SFU.md):
// one SDP offer POSTed, the answer back with a Location to PATCH/DELETE.

export class HttpStatusError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function gatheringDone(pc, maxMs = 2000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") resolve();
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, maxMs);
  });
}

async function exchange(pc, url, token) {
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringDone(pc);
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/sdp", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: pc.localDescription.sdp,
  });
  if (res.status !== 201) {
    let code = "http_" + res.status;
    let message = res.statusText;
    try {
      const err = (await res.json()).error;
      code = err.code;
      message = err.message;
    } catch {
      /* not JSON */
    }
    throw new HttpStatusError(res.status, code, message);
  }
  const location = new URL(res.headers.get("location"), url).toString();
  await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
  return location;
}

async function endSession(location, token) {
  try {
    await fetch(location, { method: "DELETE", headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch {
    /* the server drops sessions that go silent anyway */
  }
}

/// Publishes a MediaStream to /whip/{room}; video with three simulcast layers when supported.
export async function publish(room, token, stream) {
  const pc = new RTCPeerConnection();
  const [video] = stream.getVideoTracks();
  const [audio] = stream.getAudioTracks();
  if (video) {
    const caps = RTCRtpSender.getCapabilities && RTCRtpSender.getCapabilities("video");
    const simulcast = !!caps && video.getSettings().height >= 360;
    pc.addTransceiver(video, {
      direction: "sendonly",
      sendEncodings: simulcast
        ? [
            { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150000 },
            { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500000 },
            { rid: "f", maxBitrate: 1500000 },
          ]
        : undefined,
    });
  }
  if (audio) pc.addTransceiver(audio, { direction: "sendonly" });
  try {
    const location = await exchange(pc, `${window.location.origin}/whip/${encodeURIComponent(room)}`, token);
    return { pc, stop: async () => { await endSession(location, token); pc.close(); } };
  } catch (err) {
    pc.close();
    throw err;
  }
}

/// Plays /whep/{room} into a <video>; rejects with HttpStatusError (409 room_not_live when offline).
export async function play(room, video, token) {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.ontrack = (e) => {
    stream.addTrack(e.track);
    video.srcObject = stream;
  };
  try {
    const location = await exchange(pc, `${window.location.origin}/whep/${encodeURIComponent(room)}`, token);
    return { pc, stop: async () => { await endSession(location, token); pc.close(); } };
  } catch (err) {
    pc.close();
    throw err;
  }
}
