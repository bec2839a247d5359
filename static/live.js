// The viewer page, /live/{room}: WHEP playback with an offline state and retry,
// chat and reactions over /ws, the shop's products with Buy now and checkout.

import { $, api, el, lastPathSegment, mountSignIn, say, session } from "/static/common.js";
import { Hub } from "/static/hub.js";
import { play } from "/static/rtc.js";
import { LiveCommerce, clock } from "/static/live_commerce.js";
import { EngageCard } from "/static/engage.js";
import { buy, heldReservation, holdReservation, mountCart, mountProducts, openCart, showConfirmation } from "/static/shopping.js";

const room = lastPathSegment();
const video = $("#video");
let player = null;
let retryTimer = null;
let hub = null;
const shown = new Set();
const needSignIn = () => {
  say($("#signin-status"), "Sign in to buy.");
  $("#email").focus();
};
const commerce = new LiveCommerce(room, $("#pinned"), { onBuy: buyNow, onNeedSignIn: needSignIn, overlay: $("#pinned-overlay"), onTrack: trackCards });

const engage = new EngageCard(room, $("#engage"), { send: (frame) => hub.request(frame), onNeedSignIn: needSignIn });

/// Card impressions, clicks and cart adds for the seller's analytics: over
/// the socket when it is open, else the HTTP beacon (docs/API.md).
function trackCards(kind, productIds) {
  if (hub && hub.ws && hub.ws.readyState === WebSocket.OPEN) {
    return hub.request({ type: "card.track", room, kind, product_ids: productIds }).catch(() => {});
  }
  return api("POST", `/api/v1/rooms/${encodeURIComponent(room)}/card-events`, { kind, product_ids: productIds }).catch(() => {});
}

/// Buy now on a pinned card: a one-tap reservation during a flash sale, else the cart.
async function buyNow({ product, variant, sale }) {
  const held = heldReservation();
  if (held && held.variant_id === variant.variant_id && held.reserved_until > Date.now() - 1000) return openCart();
  if (!sale) {
    await buy(variant.variant_id);
    return commerce.track("add_to_cart", [product.product_id]);
  }
  try {
    const ack = await api("POST", `/api/v1/rooms/${encodeURIComponent(room)}/sales/${encodeURIComponent(sale.sale_id)}/reserve`, { quantity: 1 });
    commerce.hold(variant.variant_id, ack.reserved_until);
    await holdReservation({ ...ack, room, title: product.title, variant_id: variant.variant_id }, clock);
  } catch (err) {
    await openCart();
    say($("#cart-status"), err.message, "error");
  }
}

function setState(text, live) {
  say($("#stream-state"), text, live ? "live" : "info");
}

async function startPlayback() {
  clearTimeout(retryTimer);
  if (player) return;
  setState("Connecting…");
  try {
    player = await play(room, video);
    $("#offline").hidden = true;
    player.pc.addEventListener("connectionstatechange", () => {
      const state = player && player.pc.connectionState;
      if (state === "connected") setState("LIVE", true);
      if (state === "disconnected") setState("Reconnecting…");
      if (state === "failed" || state === "closed") restart("The connection dropped; reconnecting…");
    });
  } catch (err) {
    player = null;
    if (err.code === "room_not_live") {
      offline("This stream is offline. We will start playing as soon as it goes live.");
    } else {
      offline(`Could not play the stream: ${err.message}`);
    }
  }
}

function restart(text) {
  if (player) player.pc.close();
  player = null;
  offline(text);
}

function offline(text) {
  setState("Offline");
  $("#offline-text").textContent = text;
  $("#offline").hidden = false;
  retryTimer = setTimeout(startPlayback, 3000);
}

function addChat(message) {
  if (shown.has(message.id)) return;
  shown.add(message.id);
  const line = () =>
    el("li", { "data-message-id": message.id }, el("strong", { text: message.author + " " }), el("span", { class: "text", text: message.text }));
  $("#chat").append(line());
  $("#chat").scrollTop = $("#chat").scrollHeight;
  const overlay = $("#chat-overlay");
  overlay.append(line());
  while (overlay.children.length > 4) overlay.firstElementChild.remove();
}

function removeChat(id) {
  for (const node of document.querySelectorAll(`[data-message-id="${CSS.escape(id)}"]`)) node.remove();
}

function onRoomEvent(event) {
  const d = event.data;
  switch (event.kind) {
    case "snapshot":
      commerce.onEvent(event);
      engage.onEvent(event);
      if (d.room) $("#room-title").textContent = d.room.title;
      if (d.presence) setViewers(d.presence.viewers);
      for (const m of d.chat || []) addChat(m);
      break;
    case "chat.message":
      addChat(d);
      break;
    case "chat.deleted":
      removeChat(d.id);
      break;
    case "presence":
      setViewers(d.viewers);
      break;
    case "reactions":
      burst(d.counts);
      break;
    case "chat.slow_mode":
      say($("#chat-status"), d.seconds ? `Slow mode: one message every ${d.seconds} s.` : "");
      break;
    case "unsubscribed":
      say($("#chat-status"), d.reason, "error");
      break;
    case "subscribe_failed":
      say($("#chat-status"), d.message, "error");
      break;
    default:
      commerce.onEvent(event);
      engage.onEvent(event);
  }
}

function setViewers(n) {
  $("#viewers").textContent = `${n} watching`;
}

function burst(counts) {
  const total = Object.values(counts || {}).reduce((a, b) => a + b, 0);
  if (!total) return;
  const node = $("#reaction-burst");
  node.textContent = `♥ ${total}`;
  node.classList.remove("pop");
  void node.offsetWidth;
  node.classList.add("pop");
}

function onUserEvent(event) {
  const d = event.data || {};
  if (event.kind === "order.updated" && d.status) {
    say($("#cart-status"), `Order update: ${d.status.replace("_", " ")}`);
    const line = document.querySelector(`#confirmation .order[data-order-id="${CSS.escape(d.order_id || d.id || "")}"]`);
    if (line) line.dataset.status = d.status;
  }
}

function connectHub(s) {
  if (hub) hub.close();
  shown.clear();
  $("#chat").replaceChildren();
  $("#chat-overlay").replaceChildren();
  hub = new Hub(s && s.token, {
    onStatus: (st) => {
      if (st === "reconnecting") say($("#chat-status"), "Reconnecting to the chat…", "error");
      else if (st === "connected" && $("#chat-status").dataset.kind === "error") say($("#chat-status"), "");
    },
  });
  hub.subscribe(`room:${room}`, onRoomEvent);
  if (s) hub.subscribe(`user:${s.user.id}`, onUserEvent);
}

async function main() {
  $("#retry").addEventListener("click", startPlayback);
  $("#unmute").addEventListener("click", () => {
    video.muted = !video.muted;
    $("#unmute").textContent = video.muted ? "Sound on" : "Sound off";
  });
  for (const button of document.querySelectorAll(".react")) {
    button.addEventListener("click", () => hub && hub.request({ type: "react", room, kind: button.dataset.kind, count: 1 }).catch(() => {}));
  }
  $("#chat-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("#chat-text");
    try {
      const result = await hub.request({ type: "chat.send", room, text: input.value });
      addChat(result.message);
      input.value = "";
      say($("#chat-status"), "");
    } catch (err) {
      say($("#chat-status"), err.message, "error");
    }
  });
  mountCart(() => commerce.clearHolds());
  mountSignIn((s) => {
    $("#chat-form").hidden = !s;
    connectHub(s);
  });
  startPlayback();
  try {
    const shop = await api("GET", `/api/v1/rooms/${encodeURIComponent(room)}/shop`);
    $("#shop-link").textContent = shop.name;
    $("#shop-link").href = `/shop/${shop.slug}`;
    await mountProducts(shop.slug, $("#products"), { onNeedSignIn: needSignIn });
  } catch (err) {
    $("#products").replaceChildren(el("li", { class: "muted", text: err.code === "room_not_found" ? "No room has this name." : err.message }));
  }
}

export { showConfirmation };
main();
