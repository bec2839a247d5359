// Seller-side live commerce controls: the pinned-product picker (studio and
// moderator panel), the flash-sale form with its open sales and Stop, and the
// auction form (shown only when the server has the auctions API).

import { $, api, el, money, say } from "/static/common.js";
import { foldSale, mergeAuction } from "/static/live_commerce.js";

const roomPath = (room) => `/api/v1/rooms/${encodeURIComponent(room)}`;

/// Products of the room's shop with Pin / Unpin; `list` is a <ul>.
export class PinPicker {
  constructor(list, status) {
    this.list = list;
    this.status = status;
    this.room = null;
    this.products = [];
    this.pinned = new Set();
  }

  async load(room, shopSlug) {
    this.room = room;
    const [page, pins] = await Promise.all([
      api("GET", `/api/v1/shops/${encodeURIComponent(shopSlug)}/products?limit=50`),
      api("GET", `${roomPath(room)}/pins`),
    ]);
    this.products = page.items.filter((p) => !p.status || p.status === "published");
    this.pinned = new Set(pins.pins.map((p) => p.product_id));
    this.render();
    return this.products;
  }

  onEvent(event) {
    const d = event.data || {};
    if (event.kind === "snapshot") this.pinned = new Set((d.pinned_products || []).map((p) => p.product_id));
    else if (event.kind === "product.pinned") this.pinned.add(d.product.product_id);
    else if (event.kind === "product.unpinned") this.pinned.delete(d.product_id);
    else return;
    this.render();
  }

  render() {
    if (!this.products.length) {
      this.list.replaceChildren(el("li", { class: "muted", text: "No published products in this shop yet." }));
      return;
    }
    this.list.replaceChildren(
      ...this.products.map((p) => {
        const on = this.pinned.has(p.id);
        const v = p.variants[0];
        return el(
          "li",
          { class: on ? "pinned-now" : "", "data-product-id": p.id },
          el("span", { text: `${p.title}${v ? " · " + money(v.price, v.currency) : ""}` }),
          el("button", {
            type: "button",
            class: on ? "unpin secondary" : "pin",
            "aria-label": `${on ? "Unpin" : "Pin"} ${p.title}`,
            "aria-pressed": on ? "true" : "false",
            text: on ? "Unpin" : "Pin",
            onclick: () => this.toggle(p, on),
          }),
        );
      }),
    );
  }

  async toggle(product, on) {
    try {
      if (on) await api("DELETE", `${roomPath(this.room)}/pins/${encodeURIComponent(product.id)}`);
      else await api("POST", `${roomPath(this.room)}/pins`, { product_id: product.id });
      if (on) this.pinned.delete(product.id);
      else this.pinned.add(product.id);
      say(this.status, `${on ? "Unpinned" : "Pinned"} ${product.title}.`);
      this.render();
    } catch (err) {
      say(this.status, err.message, "error");
    }
  }
}

function variantOptions(select, products) {
  select.replaceChildren(
    ...products.flatMap((p) =>
      p.variants.map((v) => el("option", { value: v.id, "data-price": v.price, text: `${p.title}${p.variants.length > 1 ? " · " + (v.sku || "") : ""} (${money(v.price, v.currency)})` })),
    ),
  );
}

/// The flash-sale form, the list of the room's open sales with Stop, and the auction form.
export class SaleControls {
  constructor(status) {
    this.status = status;
    this.room = null;
    this.sales = new Map();
    this.auctions = new Map();
    this.titles = new Map();
    $("#sale-form").addEventListener("submit", (e) => this.startSale(e));
    $("#auction-form").addEventListener("submit", (e) => this.startAuction(e));
    $("#sale-variant").addEventListener("change", () => this.suggestPrice());
  }

  async load(room, products) {
    this.room = room;
    this.titles = new Map(products.flatMap((p) => p.variants.map((v) => [v.id, p.title])));
    variantOptions($("#sale-variant"), products);
    variantOptions($("#auction-variant"), products);
    this.suggestPrice();
    const sales = await api("GET", `${roomPath(room)}/sales`);
    this.sales = new Map(sales.map((s) => [s.id, s]));
    this.renderSales();
    const doc = await api("GET", "/api/openapi.json").catch(() => ({}));
    const auctions = Boolean(doc.paths && doc.paths["/api/v1/rooms/{room}/auctions"]);
    $("#auction-form").hidden = !auctions;
    $("#auction-unavailable").hidden = auctions;
    if (auctions) {
      const list = await api("GET", `${roomPath(room)}/auctions`).catch(() => ({ items: [] }));
      this.auctions = new Map((list.items || []).map((a) => [a.id, a]));
      this.renderAuctions();
    }
  }

  suggestPrice() {
    const option = $("#sale-variant").selectedOptions[0];
    if (!option) return;
    const price = Number(option.dataset.price);
    $("#sale-price").value = ((price * 0.8) / 100).toFixed(2);
    $("#auction-start").value = ((price * 0.5) / 100).toFixed(2);
  }

  onEvent(event) {
    const d = event.data || {};
    switch (event.kind) {
      case "snapshot":
        this.sales = new Map((d.sales || []).map((s) => [s.id, { ...s, sale_id: s.id }]));
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
        this.renderAuctions();
        return;
      default:
        return;
    }
    this.renderSales();
  }

  renderSales() {
    const list = $("#open-sales");
    const sales = [...this.sales.values()];
    list.replaceChildren(
      ...(sales.length
        ? sales.map((s) =>
            el(
              "li",
              { "data-sale-id": s.id },
              el("span", { text: `${this.titles.get(s.variant_id) || "Sale"} at ${money(s.sale_price, s.currency)} · ${s.phase.replace("_", " ")} · until ${new Date(s.ends_at).toLocaleTimeString()}` }),
              el("button", { type: "button", class: "danger stop-sale", "aria-label": `Stop the flash sale of ${this.titles.get(s.variant_id) || "this item"}`, text: "Stop", onclick: () => this.stopSale(s) }),
            ),
          )
        : [el("li", { class: "muted", text: "No flash sale running." })]),
    );
  }

  renderAuctions() {
    const list = $("#open-auctions");
    const items = [...this.auctions.values()].filter((a) => a.status !== "ended" && a.status !== "cancelled");
    list.replaceChildren(
      ...items.map((a) =>
        el(
          "li",
          {},
          el("span", { text: `${a.title || "Lot"}: ${money(a.current_price ?? a.starting_price, a.currency || "USD")}, ${a.bid_count || 0} bids` }),
          el("button", { type: "button", class: "danger", "aria-label": `Cancel the auction of ${a.title || "this lot"}`, text: "Cancel", onclick: () => this.cancelAuction(a) }),
        ),
      ),
    );
  }

  async startSale(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      const sale = await api("POST", `${roomPath(this.room)}/sales`, {
        variant_id: f.get("variant_id"),
        sale_price: Math.round(Number(f.get("price")) * 100),
        total_quantity: Number(f.get("quantity")),
        per_buyer_cap: Number(f.get("cap")),
        duration_secs: Number(f.get("duration")),
      });
      this.sales.set(sale.id, sale);
      this.renderSales();
      say(this.status, `Flash sale started: ${sale.total_quantity} at ${money(sale.sale_price, sale.currency)}.`);
    } catch (err) {
      say(this.status, err.message, "error");
    }
  }

  async stopSale(sale) {
    try {
      await api("POST", `${roomPath(this.room)}/sales/${encodeURIComponent(sale.id)}/cancel`);
      this.sales.delete(sale.id);
      this.renderSales();
      say(this.status, "Flash sale stopped.");
    } catch (err) {
      say(this.status, err.message, "error");
    }
  }

  async startAuction(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    const reserve = f.get("reserve");
    try {
      const a = await api("POST", `${roomPath(this.room)}/auctions`, {
        variant_id: f.get("variant_id"),
        starting_price: Math.round(Number(f.get("start")) * 100),
        duration_secs: Number(f.get("duration")),
        anti_snipe_secs: Number(f.get("anti_snipe")),
        sudden_death: f.get("sudden_death") === "on",
        ...(reserve ? { reserve_price: Math.round(Number(reserve) * 100) } : {}),
      });
      this.auctions.set(a.id, a);
      this.renderAuctions();
      say(this.status, `Auction started at ${money(a.starting_price, a.currency)}.`);
    } catch (err) {
      say(this.status, err.message, "error");
    }
  }

  async cancelAuction(a) {
    try {
      await api("POST", `${roomPath(this.room)}/auctions/${encodeURIComponent(a.id)}/cancel`);
      this.auctions.delete(a.id);
      this.renderAuctions();
    } catch (err) {
      say(this.status, err.message, "error");
    }
  }
}
