// The seller studio, /studio: pick a shop and room (or create one), preview the
// camera, go live over WHIP, watch status, bitrate, viewers and chat, end the stream.

import { $, api, el, mountSignIn, say } from "/static/common.js";
import { Hub } from "/static/hub.js";
import { publish } from "/static/rtc.js";
import { AnalyticsPanel } from "/static/analytics.js";
import { PinPicker, SaleControls } from "/static/studio_commerce.js";
import { EngageControls } from "/static/engage.js";

let preview = null; // MediaStream
let publisher = null;
let hub = null;
let currentRoom = null;
let statsTimer = null;
let lastBytes = null;
let analytics = null;
let pins = null;
let sales = null;
let engage = null;

async function loadShops() {
  const me = await api("GET", "/api/v1/me");
  const shops = me.shops.filter((s) => s.role === "seller");
  const select = $("#shop");
  select.replaceChildren(...shops.map((s) => el("option", { value: s.shop_slug, text: s.shop_name })));
  if (!shops.length) say($("#room-status"), "You are not a seller of any shop yet.", "error");
  await loadRooms();
}

async function loadRooms(selected) {
  const slug = $("#shop").value;
  const select = $("#room");
  if (!slug) return select.replaceChildren();
  const rooms = (await api("GET", `/api/v1/shops/${encodeURIComponent(slug)}/rooms`)).items;
  select.replaceChildren(...rooms.map((r) => el("option", { value: r.name, text: `${r.title} (${r.name}, ${r.status})` })));
  if (selected) select.value = selected;
  if (!rooms.length) $("#new-room").open = true;
  selectRoom();
}

function selectRoom() {
  const room = $("#room").value || null;
  if (room === currentRoom) return;
  if (currentRoom && hub) hub.unsubscribe(`room:${currentRoom}`);
  currentRoom = room;
  $("#go-live").disabled = !room || !preview || !!publisher;
  $("#whip-url").textContent = room ? `${location.origin}/whip/${room}` : "–";
  $("#viewer-link").href = room ? `/live/${room}` : "#";
  $("#moderate-link").href = room ? `/moderate/${room}` : "#";
  $("#stream-key-box").hidden = true;
  $("#chat").replaceChildren();
  if (analytics) analytics.stop();
  analytics = null;
  $("#analytics").hidden = true;
  if (!room) return;
  engage.setRoom(room);
  if (hub) hub.subscribe(`room:${room}`, onRoomEvent);
  analytics = new AnalyticsPanel($("#analytics"), room);
  analytics.start();
  const status = $("#commerce-status");
  pins
    .load(room, $("#shop").value)
    .then((products) => sales.load(room, products))
    .catch((err) => say(status, err.message, "error"));
}

function onRoomEvent(event) {
  const d = event.data;
  pins.onEvent(event);
  sales.onEvent(event);
  engage.onEvent(event);
  if (event.kind === "snapshot") {
    $("#chat").replaceChildren();
    if (d.presence) setPresence(d.presence);
    for (const m of d.chat || []) addChat(m);
  } else if (event.kind === "presence") setPresence(d);
  else if (event.kind === "chat.message") addChat(d);
  else if (event.kind === "chat.deleted") {
    const node = document.querySelector(`#chat [data-message-id="${CSS.escape(d.id)}"]`);
    if (node) node.remove();
  }
}

function setPresence(p) {
  $("#viewer-count").textContent = String(p.viewers);
  $("#viewer-peak").textContent = String(p.peak);
}

function addChat(m) {
  if (document.querySelector(`#chat [data-message-id="${CSS.escape(m.id)}"]`)) return;
  $("#chat").append(el("li", { "data-message-id": m.id }, el("strong", { text: m.author + " " }), el("span", { text: m.text })));
  $("#chat").scrollTop = $("#chat").scrollHeight;
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [kind, id] of [["videoinput", "#camera"], ["audioinput", "#microphone"]]) {
    const select = $(id);
    const current = select.value;
    select.replaceChildren(...devices.filter((d) => d.kind === kind).map((d, i) => el("option", { value: d.deviceId, text: d.label || `${kind} ${i + 1}` })));
    if (current) select.value = current;
  }
}

async function startPreview() {
  if (preview) preview.getTracks().forEach((t) => t.stop());
  const camera = $("#camera").value;
  const mic = $("#microphone").value;
  try {
    preview = await navigator.mediaDevices.getUserMedia({
      video: { width: 1280, height: 720, ...(camera ? { deviceId: { exact: camera } } : {}) },
      audio: mic ? { deviceId: { exact: mic } } : true,
    });
    $("#preview").srcObject = preview;
    await listDevices();
    $("#go-live").disabled = !currentRoom || !!publisher;
  } catch (err) {
    say($("#live-status"), `Camera unavailable: ${err.message}`, "error");
  }
}

async function goLive() {
  const button = $("#go-live");
  button.disabled = true;
  say($("#live-status"), "Connecting…");
  try {
    publisher = await publish(currentRoom, JSON.parse(localStorage.getItem("streamcart.session")).token, preview);
    publisher.pc.addEventListener("connectionstatechange", () => {
      const state = publisher && publisher.pc.connectionState;
      if (state === "connected") {
        say($("#live-status"), "LIVE", "live");
        loadRooms(currentRoom).catch(() => {});
      }
      else if (state === "failed") say($("#live-status"), "Connection failed; end the stream and go live again.", "error");
      else if (state) say($("#live-status"), state);
    });
    $("#end-stream").hidden = false;
    button.hidden = true;
    $("#room").disabled = $("#shop").disabled = true;
    statsTimer = setInterval(updateBitrate, 1000);
  } catch (err) {
    publisher = null;
    button.disabled = false;
    say($("#live-status"), err.code === "room_has_publisher" ? "Someone is already publishing to this room (OBS?)." : err.message, "error");
  }
}

async function updateBitrate() {
  if (!publisher) return;
  let bytes = 0;
  (await publisher.pc.getStats()).forEach((s) => {
    if (s.type === "outbound-rtp") bytes += s.bytesSent || 0;
  });
  const now = performance.now();
  if (lastBytes) $("#bitrate").textContent = `${Math.round(((bytes - lastBytes.bytes) * 8) / (now - lastBytes.at))} kbit/s`;
  lastBytes = { bytes, at: now };
}

async function endStream() {
  clearInterval(statsTimer);
  lastBytes = null;
  const p = publisher;
  publisher = null;
  if (p) await p.stop();
  say($("#live-status"), "Ended");
  $("#bitrate").textContent = "–";
  $("#end-stream").hidden = true;
  $("#go-live").hidden = false;
  $("#go-live").disabled = false;
  $("#room").disabled = $("#shop").disabled = false;
  loadRooms(currentRoom).catch(() => {});
}

function onSession(s) {
  $("#workspace").hidden = !s;
  if (hub) hub.close();
  hub = null;
  currentRoom = null;
  if (!s) return;
  hub = new Hub(s.token);
  hub.subscribe(`user:${s.user.id}`, (e) => e.kind === "analytics.minute" && analytics && analytics.onPush(e.data));
  loadShops().catch((err) => say($("#room-status"), err.message, "error"));
  if (!preview) startPreview();
}

async function newStreamKey() {
  if (!currentRoom) return;
  try {
    const r = await api("POST", `/api/v1/rooms/${encodeURIComponent(currentRoom)}/stream-key`);
    $("#stream-key").textContent = r.stream_key;
    $("#stream-key-box").hidden = false;
    say($("#room-status"), "New stream key issued; the old one no longer works. Paste it into OBS now: it is shown only once.");
  } catch (err) {
    say($("#room-status"), err.message, "error");
  }
}

function main() {
  pins = new PinPicker($("#pick-list"), $("#commerce-status"));
  sales = new SaleControls($("#commerce-status"));
  engage = new EngageControls($("#engage-controls"), $("#engage-status"));
  $("#new-key").addEventListener("click", newStreamKey);
  $("#shop").addEventListener("change", () => loadRooms());
  $("#room").addEventListener("change", selectRoom);
  $("#camera").addEventListener("change", startPreview);
  $("#microphone").addEventListener("change", startPreview);
  $("#go-live").addEventListener("click", goLive);
  $("#end-stream").addEventListener("click", endStream);
  $("#room-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(e.target);
    try {
      const created = await api("POST", `/api/v1/shops/${encodeURIComponent($("#shop").value)}/rooms`, { name: data.get("name"), title: data.get("title") });
      await loadRooms(created.room.name);
      $("#stream-key").textContent = created.stream_key;
      $("#stream-key-box").hidden = false;
      say($("#room-status"), "Room created. Copy the stream key now if you will use OBS: it is shown only once.");
      e.target.reset();
    } catch (err) {
      say($("#room-status"), err.message, "error");
    }
  });
  $("#chat-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const r = await hub.request({ type: "chat.send", room: currentRoom, text: $("#chat-text").value });
      addChat(r.message);
      $("#chat-text").value = "";
    } catch (err) {
      say($("#chat-status"), err.message, "error");
    }
  });
  window.addEventListener("pagehide", () => publisher && publisher.stop());
  mountSignIn(onSession);
}

main();
