// End to end through the three pages in headless Chromium with the fake camera:
// a seller goes live from /studio, pins a product and starts a flash sale there;
// a viewer on /live/{room} sees the video play and the pinned card with its sale
// price and countdown, chats, taps Buy now (held for them), pays and sees the order
// confirmed; the studio's viewer count and analytics (orders, GMV) follow; a
// moderator on /moderate/{room} deletes the viewer's message and it disappears for
// the viewer. Fails on any page error or console error.
// Screenshots of every page at desktop and phone sizes go to $SCREENSHOTS.
//
// Usage: node chromium_pages.mjs BASE_URL   (run from a dir whose node_modules has
// playwright-core). Exit 0 on success, 1 on failure.

import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.cwd(), "package.json"));
const { chromium } = require("playwright-core");

const base = process.argv[2].replace(/\/$/, "");
const shots = process.env.SCREENSHOTS || path.join(process.cwd(), "screenshots");
const suffix = Math.random().toString(16).slice(2, 10);
const PASSWORD = "correct horse battery staple";
const WAIT = { timeout: 30_000 };
const errors = [];

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

async function register(name) {
  const email = `${name}-${suffix}@example.com`;
  const auth = await api("POST", "/api/v1/auth/register", null, { email, password: PASSWORD, display_name: name });
  return { email, token: auth.access_token };
}

async function openPage(browser, label, url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`${label} pageerror: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && errors.push(`${label} console error: ${m.text()} (${m.location().url})`));
  page.on("response", (r) => r.status() >= 400 && console.log(`  ${label}: ${r.request().method()} ${r.url()} -> ${r.status()}`));
  await page.goto(base + url);
  return page;
}

async function signIn(page, who) {
  await page.fill("#email", who.email);
  await page.fill("#password", PASSWORD);
  await page.click('#signin-form button[value="login"]');
  await page.waitForSelector("#signed-in:not([hidden])", WAIT);
}

async function screenshots(page, name) {
  await page.bringToFront(); // background pages do not paint their <video>
  for (const [size, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
    await page.setViewportSize(viewport);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(shots, `${name}-${size}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

function check() {
  if (errors.length) throw new Error(`errors in the pages:\n  ${errors.join("\n  ")}`);
}

async function main() {
  mkdirSync(shots, { recursive: true });
  const seller = await register("seller");
  const moderator = await register("moderator");
  const viewer = await register("viewer");
  const shop = `shop-${suffix}`;
  await api("POST", "/api/v1/shops", seller.token, { slug: shop, name: "Linen & Co" });
  await api("POST", `/api/v1/shops/${shop}/members`, seller.token, { email: moderator.email, role: "moderator" });
  const product = await api("POST", `/api/v1/shops/${shop}/products`, seller.token, {
    title: "Linen shirt",
    variants: [{ sku: `SHIRT-M-${suffix}`, options: { size: "M" }, price: 3900, stock: 10 }],
  });
  await api("POST", `/api/v1/shops/${shop}/products/${product.id}/publish`, seller.token);
  const room = `live-${suffix}`;
  await api("POST", `/api/v1/shops/${shop}/rooms`, seller.token, { name: room, title: "Spring drop" });

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--use-fake-device-for-media-stream",
           "--use-fake-ui-for-media-stream", "--disable-features=WebRtcHideLocalIpsWithMdns"],
  });
  try {
    // The offline state, before anyone publishes (WHEP answers 409 room_not_live; Chromium
    // logs that failed fetch as a console error, so this page's log is not checked).
    const early = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await early.goto(`${base}/live/${room}`);
    await early.waitForSelector("#offline:not([hidden])", WAIT);
    await screenshots(early, "live-offline");
    await early.context().close();

    // The seller goes live from the studio with the fake camera.
    const studio = await openPage(browser, "studio", "/studio");
    await screenshots(studio, "studio-signed-out");
    await signIn(studio, seller);
    await studio.waitForSelector(`#room option[value="${room}"]`, { ...WAIT, state: "attached" });
    await studio.waitForSelector("#go-live:not([disabled])", WAIT);
    await studio.click("#go-live");
    await studio.waitForFunction(() => document.querySelector("#live-status").textContent === "LIVE", null, WAIT);
    console.log("  studio: live over WHIP");
    // The studio's own connection counts once presence settles; the viewer must add to it.
    await studio.waitForFunction(() => Number(document.querySelector("#viewer-count").textContent) >= 1, null, WAIT);

    // The seller pins the product and starts a flash sale from the studio.
    await studio.click(`#pick-list li[data-product-id="${product.id}"] button.pin`);
    await studio.waitForSelector(`#pick-list li[data-product-id="${product.id}"] button.unpin`, WAIT);
    await studio.selectOption("#sale-variant", product.variants[0].id);
    await studio.fill("#sale-price", "29.00");
    await studio.fill("#sale-quantity", "5");
    await studio.fill("#sale-cap", "1");
    await studio.fill("#sale-duration", "600");
    await studio.click("#start-sale");
    await studio.waitForSelector("#open-sales li[data-sale-id]", WAIT);
    console.log("  studio: pinned the product, flash sale started");
    await studio.waitForTimeout(1500);
    const before = Number(await studio.textContent("#viewer-count"));

    // A viewer plays the stream.
    const live = await openPage(browser, "viewer", `/live/${room}`);
    await live.waitForFunction(() => {
      const v = document.querySelector("video");
      return v.getVideoPlaybackQuality().totalVideoFrames > 10 && v.currentTime > 0;
    }, null, WAIT);
    const first = await live.evaluate(() => ({ frames: document.querySelector("video").getVideoPlaybackQuality().totalVideoFrames, t: document.querySelector("video").currentTime }));
    await live.waitForFunction((f) => {
      const v = document.querySelector("video");
      return v.getVideoPlaybackQuality().totalVideoFrames >= f.frames + 30 && v.currentTime > f.t;
    }, first, WAIT);
    console.log(`  viewer: video playing (${first.frames}+ frames decoded, currentTime advancing)`);

    // The pinned card shows the sale price and a countdown from the server's deadline.
    const card = `#pinned .pinned-card[data-product-id="${product.id}"]`;
    await live.waitForSelector(`${card} .countdown:has-text("Flash sale ends in")`, WAIT);
    const price = await live.textContent(`${card} .price`);
    if (!price.includes("29")) throw new Error(`the pinned card shows ${price}, not the sale price`);
    console.log(`  viewer: pinned card at ${price}, ${await live.textContent(`${card} .countdown`)}`);
    await screenshots(live, "live-signed-out");

    // The studio sees the viewer.
    await studio.waitForFunction((n) => Number(document.querySelector("#viewer-count").textContent) > n, before, WAIT);
    console.log(`  studio: viewer count went from ${before} to ${await studio.textContent("#viewer-count")}`);

    // The viewer signs in, chats, taps Buy now on the pinned card, pays.
    await signIn(live, viewer);
    const text = `is the M size back? ${suffix}`;
    await live.fill("#chat-text", text);
    await live.click('#chat-form button[type="submit"]');
    await live.waitForSelector(`#chat li:has-text("${text}")`, WAIT);
    await studio.waitForSelector(`#chat li:has-text("${text}")`, WAIT);
    await live.click(`${card} .buy-now`);
    await live.waitForSelector(`${card} .held:has-text("Held for you until")`, WAIT);
    await live.waitForSelector("#cart:not([hidden]) #checkout:not([disabled])", WAIT);
    console.log(`  viewer: ${await live.textContent(`${card} .held`)}`);
    await screenshots(live, "live-held");
    await live.click("#checkout");
    await live.waitForSelector('#confirmation .order[data-status="paid"]', WAIT);
    console.log(`  viewer: ${await live.textContent("#confirmation .order")}`);
    await screenshots(live, "live-order-confirmed");
    await live.click("#cart-close");

    // The studio's analytics count the order (pushed on the seller's own channel).
    await studio.waitForFunction(() => document.querySelector("#analytics .an-orders")?.textContent === "1", null, WAIT);
    console.log(`  studio: analytics show 1 order, GMV ${await studio.textContent("#analytics .an-gmv")}`);
    // The viewer's page reported the pinned card's impression and click (and the sale's hold).
    await studio.waitForFunction(() => Number(document.querySelector("#analytics .an-impressions")?.textContent) >= 1 && Number(document.querySelector("#analytics .an-clicks")?.textContent) >= 1, null, WAIT);
    console.log(`  studio: card impressions ${await studio.textContent("#analytics .an-impressions")}, clicks ${await studio.textContent("#analytics .an-clicks")}, CTR ${await studio.textContent("#analytics .an-ctr")}`);

    // A poll from the studio: the viewer votes, the studio sees the tally.
    await studio.fill("#poll-question", "Which colour next?");
    await studio.fill("#poll-a1", "Red");
    await studio.fill("#poll-a2", "Blue");
    await studio.click('#poll-form button[type="submit"]');
    await live.waitForSelector('#engage .poll button.vote:has-text("Blue")', WAIT);
    await live.click('#engage .poll button.vote:has-text("Blue")');
    await studio.waitForSelector('#engage-now .poll li:nth-child(2) .tally:has-text("1 (100%)")', WAIT);
    console.log("  viewer: voted in the studio's poll; the studio shows the tally");

    // A giveaway: the viewer enters, the seller draws, the viewer sees the winner and the seed.
    await studio.click('#engage-now button:has-text("Close poll")');
    await studio.fill("#giveaway-prize", "A linen scarf");
    await studio.click('#giveaway-form button[type="submit"]');
    await live.waitForSelector('#engage .giveaway button.enter', WAIT);
    await live.click('#engage .giveaway button.enter');
    await studio.waitForSelector('#engage-now .giveaway:has-text("1 entered")', WAIT);
    await studio.click('#engage-now button:has-text("Draw now")');
    await live.waitForSelector('#engage .giveaway-result:has-text("Winner: viewer")', WAIT);
    console.log(`  viewer: ${await live.textContent("#engage .giveaway-result")}`);
    await screenshots(live, "live-engage");

    // A moderator deletes the viewer's message; it disappears on the viewer's page.
    const panel = await openPage(browser, "moderator", `/moderate/${room}`);
    await screenshots(panel, "moderate-signed-out");
    await signIn(panel, moderator);
    const line = panel.locator("#chat li", { hasText: text });
    await line.waitFor(WAIT);
    await panel.waitForSelector("#analytics:not([hidden]) svg.chart", WAIT);
    await panel.waitForSelector(`#pick-list li[data-product-id="${product.id}"] button.unpin`, WAIT);
    await screenshots(panel, "moderate");
    await line.locator("button.delete").click();
    await live.waitForFunction((t) => ![...document.querySelectorAll("#chat li, #chat-overlay li")].some((li) => li.textContent.includes(t)), text, WAIT);
    await panel.waitForSelector("#log li:has-text('delete')", WAIT);
    console.log("  moderator: deleted the message; gone from the viewer's page; logged");
    await panel.fill("#poll-question", "Restock the scarf?");
    await panel.fill('#poll-form input[name="a1"]', "Yes");
    await panel.fill('#poll-form input[name="a2"]', "No");
    await panel.click('#poll-form button[type="submit"]');
    await live.waitForSelector('#engage .poll:has-text("Restock the scarf?")', WAIT);
    await panel.waitForSelector('#engage-now button:has-text("Close poll")', WAIT);
    console.log("  moderator: started a poll; the viewer sees it");

    await screenshots(studio, "studio-live");
    await screenshots(live, "live-playing");
    const shopPage = await openPage(browser, "shop", `/shop/${shop}`);
    await shopPage.waitForSelector(".rooms li.live", WAIT);
    await screenshots(shopPage, "shop");

    // End the stream from the studio.
    await studio.click("#end-stream");
    await studio.waitForFunction(() => document.querySelector("#live-status").textContent === "Ended", null, WAIT);
    check();
    console.log(`  screenshots in ${shots}`);
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(0), (e) => { console.log("FAILED:", e.message); process.exit(1); });
