// Live commerce on the viewer page: pinned product cards with live price,
// stock band and flash-sale countdown (from the server's deadlines, corrected
// by its clock), one-tap Buy now that reserves and says until when, and the
// auction card with its price, leader, countdown and a bid button.
// Fed by room:{name} events (docs/PROTOCOL.md); renders into #pinned.

import { $, api, el, money, session } from "/static/common.js";

let clockOffset = 0; // server time - local time, ms
const serverNow = () => Date.now() + clockOffset;
const syncClock = (serverMs) => {
  if (typeof serverMs === "number") clockOffset = serverMs - Date.now();
};

export function clock(ms) {
  return new Date(ms - clockOffset).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
}

function countdown(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function bandText(stock) {
  if (!stock) return "";
  if (stock.band === "sold_out") return "Sold out";
  if (stock.band === "low") return `Only ${stock.left} left`;
  return "In stock";
}

/// Does this server serve the auctions API? (Asked once, from the OpenAPI
/// document, so a server without it never sees a 404 from the page.)
let auctionsAvailable = null;
async function hasAuctions() {
  if (auctionsAvailable === null) {
    auctionsAvailable = api("GET", "/api/openapi.json")
      .then((doc) => Boolean(doc.paths && doc.paths["/api/v1/rooms/{room}/auctions"]))
      .catch(() => false);
  }
  return auctionsAvailable;
}

/// Folds an auction.* event into `map` (id -> auction). The data is the auction
/// itself, or carries it as `auction`, or names it as `auction_id` with the changed fields.
export function mergeAuction(map, kind, d) {
  const patch = { ...d, ...(d.auction || {}) };
  const id = patch.id || d.auction_id;
  if (!id) return;
  const status = kind === "auction.ended" ? "ended" : kind === "auction.cancelled" ? "cancelled" : patch.status;
  map.set(id, { ...(map.get(id) || {}), ...patch, id, ...(status ? { status } : {}) });
}

/// Folds a sale.* event into `sales` (sale id -> sale, each with `id` and `sale_id`).
export function foldSale(sales, kind, d) {
  syncClock(d.server_now);
  const sale = sales.get(d.sale_id);
  const patch = (p) => sale && sales.set(d.sale_id, { ...sale, ...p });
  if (kind === "sale.scheduled") sales.set(d.sale_id, { ...d, id: d.sale_id, sold: 0, phase: d.starts_at <= serverNow() ? "live" : "scheduled" });
  else if (kind === "sale.started") patch({ phase: "live", ends_at: d.ends_at });
  else if (kind === "sale.sold_out") patch({ phase: "sold_out" });
  else if (kind === "sale.back_in_stock") patch({ phase: "live", left: d.left });
  else if (kind === "sale.ended" || kind === "sale.cancelled") sales.delete(d.sale_id);
}

export class LiveCommerce {
  /// onBuy({variant, sale, product}) is called by Buy now; it returns a promise.
  /// `overlay` (optional) shows the first card over the video on phones.
  /// onTrack(kind, productIds) (optional) reports card impressions and clicks.
  constructor(room, box, { onBuy, onNeedSignIn, overlay, onTrack }) {
    this.room = room;
    this.onTrack = onTrack;
    this.reported = new Set(); // "minute|kind|product" already reported
    this.observer =
      typeof IntersectionObserver === "function"
        ? new IntersectionObserver((entries) => {
            const seen = entries.filter((e) => e.isIntersecting).map((e) => e.target.dataset.productId).filter(Boolean);
            if (seen.length) this.track("impression", seen);
          }, { threshold: 0.5 })
        : null;
    this.box = box;
    this.overlay = overlay;
    this.onBuy = onBuy;
    this.onNeedSignIn = onNeedSignIn;
    this.cards = new Map(); // product_id -> card
    this.sales = new Map(); // sale_id -> sale
    this.auctions = new Map(); // auction id -> auction
    this.held = new Map(); // variant_id -> reserved_until
    this.chosen = new Map(); // product_id -> variant_id
    this.timer = setInterval(() => this.tick(), 250);
  }

  onEvent(event) {
    const d = event.data || {};
    switch (event.kind) {
      case "snapshot":
        this.cards.clear();
        for (const c of d.pinned_products || []) this.cards.set(c.product_id, c);
        this.sales.clear();
        for (const s of d.sales || []) {
          syncClock(s.server_now);
          this.sales.set(s.id, { ...s, sale_id: s.id });
        }
        for (const a of d.auctions || []) this.auctions.set(a.id, a);
        this.loadAuctions();
        break;
      case "product.pinned":
        this.cards.set(d.product.product_id, d.product);
        break;
      case "product.unpinned":
        this.cards.delete(d.product_id);
        break;
      case "stock.bands":
        for (const b of d.bands || []) {
          for (const c of this.cards.values()) for (const v of c.variants) if (v.variant_id === b.variant_id) v.stock = b.stock;
        }
        break;
      case "sale.scheduled":
      case "sale.started":
      case "sale.sold_out":
      case "sale.back_in_stock":
      case "sale.ended":
      case "sale.cancelled":
        foldSale(this.sales, event.kind, d);
        break;
      case "auction.started":
      case "auction.bid":
      case "auction.ended":
      case "auction.cancelled":
        mergeAuction(this.auctions, event.kind, d);
        break;
      default:
        return;
    }
    this.render();
  }

  async loadAuctions() {
    if (!(await hasAuctions())) return;
    try {
      const list = await api("GET", `/api/v1/rooms/${encodeURIComponent(this.room)}/auctions`);
      for (const a of list.items || []) this.auctions.set(a.id, a);
      this.render();
    } catch {
      /* the auction card stays hidden */
    }
  }

  /// The open sale of a variant, if any.
  saleOf(variantId) {
    return [...this.sales.values()].find((s) => s.variant_id === variantId && s.phase !== "ended" && s.phase !== "cancelled");
  }

  /// Marks a variant as held for this buyer until `until` (server ms).
  hold(variantId, until) {
    this.held.set(variantId, until);
    this.render();
  }

  /// The held units were paid for (or given up).
  clearHolds() {
    this.held.clear();
    this.render();
  }

  /// Reports card activity once per product, kind and minute (the server
  /// deduplicates too; this only saves requests).
  track(kind, productIds) {
    if (!this.onTrack) return;
    const minute = Math.floor(serverNow() / 60000);
    const fresh = [...new Set(productIds)].filter((id) => {
      const key = `${minute}|${kind}|${id}`;
      if (this.reported.has(key)) return false;
      this.reported.add(key);
      return true;
    });
    if (this.reported.size > 500) this.reported = new Set([...this.reported].filter((k) => k.startsWith(`${minute}|`)));
    if (fresh.length) this.onTrack(kind, fresh.slice(0, 10));
  }

  /// Cards on screen are reported again each minute they stay visible.
  observeCards() {
    if (!this.observer) return;
    this.observer.disconnect();
    const nodes = [...this.box.querySelectorAll(".pinned-card[data-product-id]"), ...(this.overlay ? this.overlay.querySelectorAll(".pinned-card[data-product-id]") : [])];
    for (const node of nodes) this.observer.observe(node);
  }

  render() {
    const cards = [...this.cards.values()];
    const auctions = [...this.auctions.values()].filter((a) => a.status !== "cancelled");
    this.box.hidden = cards.length === 0 && auctions.length === 0;
    const list = el("ul", { class: "pinned-list", "aria-label": "Pinned products" });
    for (const card of cards) list.append(this.cardNode(card));
    for (const a of auctions) list.append(this.auctionNode(a));
    this.box.replaceChildren(el("h2", { id: "pinned-h", text: "Pinned now" }), list);
    if (this.overlay) {
      // Phones: the card on sale (else the first) also floats over the video.
      const first = cards.find((c) => c.variants.some((v) => this.saleOf(v.variant_id))) || cards[0];
      this.overlay.replaceChildren(...(first ? [this.cardNode(first)] : []));
      this.overlay.hidden = !first;
    }
    this.observeCards();
    this.tick();
  }

  cardNode(card) {
    const variantId = this.chosen.get(card.product_id) || card.variants[0]?.variant_id;
    const variant = card.variants.find((v) => v.variant_id === variantId) || card.variants[0];
    if (!variant) return el("li", { class: "pinned-card muted", text: card.title });
    const sale = this.saleOf(variant.variant_id);
    const live = sale && sale.phase === "live";
    const soldOut = live ? false : sale && sale.phase === "sold_out" ? true : variant.stock && variant.stock.band === "sold_out";
    const price = live ? sale.sale_price : variant.price;
    const was = live ? variant.price : variant.compare_at_price;
    const held = this.held.get(variant.variant_id);
    const node = el(
      "li",
      {
        class: `pinned-card${live ? " on-sale" : ""}`,
        "data-product-id": card.product_id,
        "data-variant-id": variant.variant_id,
        onclick: () => this.track("click", [card.product_id]),
      },
      card.image_url ? el("img", { src: card.image_url, alt: "", class: "thumb" }) : null,
      el(
        "div",
        { class: "pinned-body" },
        el("div", { class: "product-title", text: card.title }),
        card.variants.length > 1
          ? el(
              "select",
              {
                class: "variant",
                "aria-label": `Option for ${card.title}`,
                onchange: (e) => {
                  this.chosen.set(card.product_id, e.target.value);
                  this.render();
                },
              },
              ...card.variants.map((v) => el("option", { value: v.variant_id, selected: v.variant_id === variant.variant_id, text: v.sku })),
            )
          : null,
        el(
          "div",
          { class: "price-line" },
          el("span", { class: "price", text: money(price, variant.currency) }),
          was && was > price ? el("s", { class: "muted was", text: money(was, variant.currency) }) : null,
          live ? el("span", { class: "badge sale-badge", text: "Flash sale" }) : null,
        ),
        el("div", { class: "band muted", text: sale && sale.phase === "sold_out" ? "Sale sold out" : bandText(variant.stock) }),
        sale ? el("div", { class: "countdown", "data-sale-id": sale.sale_id, role: "timer", "aria-live": "off" }) : null,
        held ? el("div", { class: "held", role: "status", text: `Held for you until ${clock(held)}` }) : null,
      ),
      el("button", {
        type: "button",
        class: "buy-now",
        disabled: soldOut || (sale && sale.phase === "scheduled"),
        "aria-label": `Buy ${card.title} now for ${money(price, variant.currency)}`,
        text: held ? "Checkout" : "Buy now",
        onclick: (e) => this.buy(e.target, card, variant, live ? sale : null),
      }),
    );
    return node;
  }

  async buy(button, product, variant, sale) {
    if (!session()) return this.onNeedSignIn();
    button.disabled = true;
    try {
      await this.onBuy({ product, variant, sale });
    } finally {
      button.disabled = false;
    }
  }

  auctionNode(a) {
    const ended = a.status === "ended" || a.status === "settled";
    const me = session();
    const leading = me && a.leader && (a.leader === me.user.id || a.leader.user_id === me.user.id);
    const leader = a.leader ? (leading ? "You" : a.leader.display_name || a.leader.name || String(a.leader).slice(-6)) : "No bids yet";
    const status = el("p", { class: "auction-status status", role: "status" });
    return el(
      "li",
      { class: "pinned-card auction", "data-auction-id": a.id },
      el(
        "div",
        { class: "pinned-body" },
        el("div", { class: "product-title", text: `Auction: ${a.title || "lot"}` }),
        el("div", { class: "price-line" }, el("span", { class: "price", text: money(a.current_price ?? a.starting_price ?? 0, a.currency || "USD") }),
          el("span", { class: "muted", text: ` · ${a.bid_count || 0} bids` })),
        el("div", { class: "muted", text: ended ? (a.winner ? `Won by ${a.winner === me?.user.id ? "you" : String(a.winner.display_name || a.winner).slice(-12)} for ${money(a.final_price ?? a.current_price, a.currency || "USD")}` : "Ended with no winner") : `Leader: ${leader}` }),
        ended ? null : el("div", { class: "countdown", "data-ends-at": a.ends_at, role: "timer", "aria-live": "off" }),
        status,
      ),
      ended
        ? null
        : el("button", {
            type: "button",
            class: "bid",
            "aria-label": `Bid ${money(a.min_next_bid ?? a.current_price, a.currency || "USD")} on ${a.title || "this lot"}`,
            text: `Bid ${money(a.min_next_bid ?? a.current_price, a.currency || "USD")}`,
            onclick: () => this.bid(a, status),
          }),
    );
  }

  async bid(a, status) {
    if (!session()) return this.onNeedSignIn();
    try {
      const r = await api("POST", `/api/v1/rooms/${encodeURIComponent(this.room)}/auctions/${encodeURIComponent(a.id)}/bids`, { amount: a.min_next_bid });
      if (r.auction) this.auctions.set(a.id, r.auction);
      this.render();
      const node = $(`[data-auction-id="${CSS.escape(a.id)}"] .auction-status`, this.box);
      if (node) node.textContent = r.leading ? "You are the highest bidder." : "Bid placed; someone bid higher.";
    } catch (err) {
      status.textContent = err.message;
      status.dataset.kind = "error";
      this.loadAuctions();
    }
  }

  /// Countdowns, from the server's deadlines (no per-second events are sent).
  tick() {
    const now = serverNow();
    const minute = Math.floor(now / 60000);
    if (this.minute !== undefined && this.minute !== minute) this.observeCards();
    this.minute = minute;
    const expired = [...this.held].filter(([, until]) => until <= now);
    if (expired.length) {
      expired.forEach(([variant]) => this.held.delete(variant));
      return this.render();
    }
    const nodes = (sel) => [...this.box.querySelectorAll(sel), ...(this.overlay ? this.overlay.querySelectorAll(sel) : [])];
    for (const node of nodes(".countdown[data-sale-id]")) {
      const sale = this.sales.get(node.dataset.saleId);
      if (!sale) continue;
      node.textContent = sale.phase === "scheduled" ? `Flash sale starts in ${countdown(sale.starts_at - now)}` : `Flash sale ends in ${countdown(sale.ends_at - now)}`;
    }
    for (const node of nodes(".countdown[data-ends-at]")) {
      node.textContent = `Ends in ${countdown(Number(node.dataset.endsAt) - now)}`;
    }
  }
}
