// Headless Chromium against the streamcart SFU: one page publishes the fake
// camera with three simulcast layers through the npm `whip-whep` WHIPClient,
// a second page plays the room through WHEPClient and must decode advancing frames.
//
// Usage: node chromium_whip_whep.mjs BASE_URL   (run from a dir whose node_modules
// has playwright-core and whip-whep). Exit 0 on success, 1 on failure.

import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.cwd(), "package.json"));
const { chromium } = require("playwright-core");
const whipWhepDir = path.dirname(require.resolve("whip-whep/package.json"));

const base = process.argv[2].replace(/\/$/, "");
const suffix = Math.random().toString(16).slice(2, 10);
const DEADLINE_MS = 60_000;

async function api(method, url, token, body) {
  const res = await fetch(base + url, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${url} -> ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const PAGE = `<!doctype html><html><body><video id="v" autoplay muted playsinline></video>
<script type="module">
import { WHIPClient } from "/whip.js";
import { WHEPClient } from "/whep.js";
window.publish = async (url, token) => {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 }, audio: true });
  const pc = new RTCPeerConnection();
  pc.addTransceiver(stream.getVideoTracks()[0], { direction: "sendonly", sendEncodings: [
    { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150000 },
    { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500000 },
    { rid: "f", maxBitrate: 1500000 } ] });
  pc.addTransceiver(stream.getAudioTracks()[0], { direction: "sendonly" });
  window.pc = pc;
  await new WHIPClient().publish(pc, url, token);
};
window.view = async (url) => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.ontrack = (e) => { stream.addTrack(e.track); document.getElementById("v").srcObject = stream; };
  window.pc = pc;
  await new WHEPClient().view(pc, url);
};
window.rtpStats = async () => {
  const out = [];
  (await window.pc.getStats()).forEach((s) => {
    if (s.type === "outbound-rtp" || s.type === "inbound-rtp")
      out.push({ type: s.type, kind: s.kind, rid: s.rid, bytes: s.bytesSent ?? s.bytesReceived, framesDecoded: s.framesDecoded,
                 width: s.frameWidth, height: s.frameHeight });
  });
  return { state: window.pc.connectionState, rtp: out, videoWidth: document.getElementById("v").videoWidth };
};
</script></body></html>`;

function servePages() {
  return new Promise((resolve) => {
    const server = createServer(async (req, res) => {
      try {
        if (req.url === "/whip.js" || req.url === "/whep.js") {
          res.writeHead(200, { "content-type": "text/javascript" });
          res.end(await readFile(path.join(whipWhepDir, req.url.slice(1))));
        } else {
          res.writeHead(200, { "content-type": "text/html" });
          res.end(PAGE);
        }
      } catch (e) {
        res.writeHead(500);
        res.end(String(e));
      }
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

async function waitFor(page, label, predicate) {
  const started = Date.now();
  let last;
  while (Date.now() - started < DEADLINE_MS) {
    last = await page.evaluate(() => window.rtpStats());
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${label}: gave up after ${DEADLINE_MS} ms; last stats ${JSON.stringify(last)}`);
}

async function main() {
  const seller = await api("POST", "/api/v1/auth/register", null, { email: `chromium-${suffix}@example.com`, password: "correct horse battery staple", display_name: "Seller" });
  const token = seller.access_token;
  await api("POST", "/api/v1/shops", token, { slug: `web-${suffix}`, name: "Browser" });
  const room = (await api("POST", `/api/v1/shops/web-${suffix}/rooms`, token, { name: `web-${suffix}`, title: "Browser" })).room.name;

  const pages = await servePages();
  const pageUrl = `http://localhost:${pages.address().port}/`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--use-fake-device-for-media-stream",
           "--use-fake-ui-for-media-stream", "--disable-features=WebRtcHideLocalIpsWithMdns"],
  });
  try {
    const publisher = await browser.newPage();
    publisher.on("console", (m) => m.type() === "error" && console.log("  publisher console:", m.text()));
    await publisher.goto(pageUrl);
    await publisher.evaluate(([u, t]) => window.publish(u, t), [`${base}/whip/${room}`, token]);
    const sent = await waitFor(publisher, "publisher", (s) =>
      s.state === "connected" && s.rtp.filter((r) => r.type === "outbound-rtp" && r.kind === "video" && r.bytes > 0).length >= 2);
    const layers = sent.rtp.filter((r) => r.type === "outbound-rtp" && r.kind === "video" && r.bytes > 0).map((r) => `${r.rid}:${r.width}x${r.height}`);
    console.log(`  publisher connected, simulcast layers sending: ${layers.join(", ")}`);

    const viewer = await browser.newPage();
    viewer.on("console", (m) => m.type() === "error" && console.log("  viewer console:", m.text()));
    await viewer.goto(pageUrl);
    await viewer.evaluate((u) => window.view(u), `${base}/whep/${room}`);
    const decoded = (s) => (s.rtp.find((r) => r.type === "inbound-rtp" && r.kind === "video") || {}).framesDecoded || 0;
    const first = await waitFor(viewer, "viewer first frames", (s) => s.state === "connected" && decoded(s) >= 10 && s.videoWidth > 0);
    const later = await waitFor(viewer, "viewer frames advancing", (s) => decoded(s) >= decoded(first) + 30);
    const video = later.rtp.find((r) => r.type === "inbound-rtp" && r.kind === "video");
    console.log(`  viewer decoded ${decoded(first)} then ${decoded(later)} frames, ${video.width}x${video.height}`);
  } finally {
    await browser.close();
    pages.close();
  }
}

main().then(() => process.exit(0), (e) => { console.log("FAILED:", e.message); process.exit(1); });
