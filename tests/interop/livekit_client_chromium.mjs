// LiveKit's JS client SDK (npm `livekit-client`) in headless Chromium joins a room
// on streamcart over /rtc and publishes the fake camera; stays until killed.
// Driven by livekit_client_watch.py, which watches it with the Python SDK.
//
// Usage: node livekit_client_chromium.mjs WS_URL TOKEN   (run from a dir whose
// node_modules has playwright-core and livekit-client). Prints "PUBLISHED" once the
// camera track is published, "FAILED <reason>" and exits 1 on failure.

import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.cwd(), "package.json"));
const { chromium } = require("playwright-core");
const sdkDir = path.join(process.cwd(), "node_modules", "livekit-client");

const [wsUrl, token] = process.argv.slice(2);

const PAGE = `<!doctype html><html><body>
<script src="/livekit-client.umd.js"></script>
<script>
window.publish = async (url, token) => {
  const room = new LivekitClient.Room();
  window.room = room;
  await room.connect(url, token);
  await room.localParticipant.setCameraEnabled(true, { resolution: { width: 640, height: 360 } });
  return { identity: room.localParticipant.identity, tracks: room.localParticipant.trackPublications.size };
};
</script></body></html>`;

function servePage() {
  return new Promise((resolve) => {
    const server = createServer(async (req, res) => {
      try {
        if (req.url === "/livekit-client.umd.js") {
          res.writeHead(200, { "content-type": "text/javascript" });
          res.end(await readFile(path.join(sdkDir, "dist", "livekit-client.umd.js")));
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

const server = await servePage();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--use-fake-device-for-media-stream",
         "--use-fake-ui-for-media-stream", "--disable-features=WebRtcHideLocalIpsWithMdns"],
});
try {
  const page = await browser.newPage();
  page.on("console", (m) => { if (m.type() === "error") console.log(`  [page] ${m.text()}`); });
  // localhost: a secure context, so getUserMedia works.
  await page.goto(`http://localhost:${server.address().port}/`);
  const published = await page.evaluate(([u, t]) => window.publish(u, t), [wsUrl, token]);
  console.log(`PUBLISHED ${JSON.stringify(published)}`);
  await new Promise(() => {}); // until the watcher kills us
} catch (e) {
  console.log(`FAILED ${e.message || e}`);
  await browser.close();
  server.close();
  process.exit(1);
}
