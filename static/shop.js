// The shop landing page, /shop/{slug}: its live and upcoming streams and its
// products, so a visitor outside a stream can still buy.

import { $, api, el, lastPathSegment, mountSignIn, say } from "/static/common.js";
import { mountCart, mountProducts } from "/static/shopping.js";

const slug = lastPathSegment();

function when(room) {
  if (room.status === "live") return "Live now";
  if (room.status === "scheduled") return room.scheduled_at ? `Starts ${new Date(room.scheduled_at).toLocaleString()}` : "Upcoming";
  return "Ended";
}

async function main() {
  mountCart(() => {});
  mountSignIn(() => {});
  try {
    const shop = await api("GET", `/api/v1/shops/${encodeURIComponent(slug)}`);
    $("#shop-name").textContent = shop.name;
    document.title = `${shop.name} · streamcart`;
    const rooms = (await api("GET", `/api/v1/shops/${encodeURIComponent(slug)}/rooms`)).items;
    const order = { live: 0, scheduled: 1, ended: 2 };
    rooms.sort((a, b) => (order[a.status] ?? 3) - (order[b.status] ?? 3));
    $("#rooms").replaceChildren(
      ...(rooms.length
        ? rooms.map((r) => el("li", { class: `room ${r.status}` }, el("a", { href: `/live/${r.name}`, text: r.title }), el("span", { class: "badge", text: when(r) })))
        : [el("li", { class: "muted", text: "No streams yet." })]),
    );
    await mountProducts(slug, $("#products"), { onNeedSignIn: () => { say($("#signin-status"), "Sign in to buy."); $("#email").focus(); } });
  } catch (err) {
    $("#shop-name").textContent = err.code === "shop_not_found" ? "Shop not found" : "Shop unavailable";
    $("#rooms").replaceChildren(el("li", { class: "muted", text: err.message }));
    $("#products").replaceChildren();
  }
}

main();
