// Products of a shop with Buy now, the cart drawer and checkout with a card.
// Used by the viewer page and the shop landing page.

import { $, api, el, money, say, session } from "/static/common.js";

/// Renders published products into `list`; Buy now puts one unit in the cart and opens the drawer.
export async function mountProducts(shopSlug, list, { onNeedSignIn }) {
  const page = await api("GET", `/api/v1/shops/${encodeURIComponent(shopSlug)}/products?limit=50`);
  list.replaceChildren();
  if (page.items.length === 0) list.append(el("li", { class: "muted", text: "No products yet." }));
  for (const product of page.items) {
    const variant = product.variants.find((v) => v.available > 0) || product.variants[0];
    if (!variant) continue;
    const soldOut = variant.available <= 0;
    const options = Object.values(variant.options || {}).join(" · ");
    list.append(
      el(
        "li",
        { class: "product", "data-product-id": product.id },
        el("div", { class: "product-title", text: product.title }),
        options ? el("div", { class: "muted", text: options }) : null,
        el("div", { class: "price", text: money(variant.price, variant.currency) }),
        el("div", { class: "muted stock", text: soldOut ? "Sold out" : variant.available <= 5 ? `Only ${variant.available} left` : "In stock" }),
        el("button", {
          type: "button",
          class: "buy",
          disabled: soldOut,
          "aria-label": `Buy ${product.title} now`,
          text: "Buy now",
          onclick: () => (session() ? buy(variant.id) : onNeedSignIn()),
        }),
      ),
    );
  }
}

/// A one-tap reservation held for this buyer ({reservation_id, title, unit_price, currency, quantity, reserved_until}),
/// paid from the drawer before the cart.
let reservation = null;
let describeUntil = (ms) => new Date(ms).toLocaleTimeString();

export function holdReservation(r, formatUntil) {
  reservation = r;
  if (formatUntil) describeUntil = formatUntil;
  return openCart();
}

export function heldReservation() {
  return reservation;
}

export async function buy(variantId) {
  const status = $("#cart-status");
  try {
    await api("PUT", `/api/v1/cart/items/${encodeURIComponent(variantId)}`, { quantity: 1 });
    await openCart();
  } catch (err) {
    await openCart();
    say(status, err.message, "error");
  }
}

export async function openCart() {
  const drawer = $("#cart");
  drawer.hidden = false;
  say($("#cart-status"), "");
  $("#confirmation").hidden = true;
  const cart = await api("GET", "/api/v1/cart");
  const lines = $("#cart-lines");
  lines.replaceChildren();
  if (reservation) {
    lines.append(
      el(
        "li",
        { class: "reserved-line" },
        el("span", { text: `${reservation.quantity} × ${reservation.title}` }),
        el("span", { text: money(reservation.unit_price * reservation.quantity, reservation.currency) }),
      ),
      el("li", { class: "held", role: "status", text: `Held for you until ${describeUntil(reservation.reserved_until)}` }),
    );
  }
  let total = "";
  for (const group of cart.groups) {
    for (const item of group.items) {
      lines.append(el("li", {}, el("span", { text: `${item.quantity} × ${item.title}` }), el("span", { text: money(item.line_total, group.currency) })));
    }
    total = money(group.total, group.currency);
  }
  const payable = cart.item_count || reservation;
  $("#cart-total").textContent = reservation ? "Pay now to keep your reserved item." : cart.item_count ? `Total ${total} (shipping included)` : "Your cart is empty.";
  $("#checkout").disabled = !payable;
  $("#checkout-form").hidden = !payable;
  $("#card-number").focus();
}

/// Wires the drawer's close and checkout buttons; onOrder(orders) after a paid checkout.
export function mountCart(onOrder) {
  $("#cart-close").addEventListener("click", () => ($("#cart").hidden = true));
  $("#checkout-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const status = $("#cart-status");
    const button = $("#checkout");
    button.disabled = true;
    say(status, "Paying…");
    try {
      const orders = reservation ? [await payReservation($("#card-number").value)] : (await api(
        "POST",
        "/api/v1/checkout",
        { payment: { card_number: $("#card-number").value } },
        { "idempotency-key": crypto.randomUUID() },
      )).orders;
      say(status, "");
      showConfirmation(orders);
      onOrder(orders);
    } catch (err) {
      say(status, err.message, "error");
      button.disabled = false;
    }
  });
}

/// Turns the held reservation into an order at the sale price, then pays it.
async function payReservation(card) {
  const r = reservation;
  const order = await api("POST", `/api/v1/rooms/${encodeURIComponent(r.room)}/reservations/${encodeURIComponent(r.reservation_id)}/checkout`);
  const paid = await api("POST", `/api/v1/orders/${encodeURIComponent(order.order_id)}/pay`, { card_number: card }, { "idempotency-key": crypto.randomUUID() });
  reservation = null;
  return paid.order;
}

export function showConfirmation(orders) {
  const box = $("#confirmation");
  box.hidden = false;
  const paid = orders.every((o) => o.status === "paid");
  box.replaceChildren(
    el("h3", { text: paid ? "Order confirmed" : "Order placed" }),
    ...orders.map((o) => el("p", { class: "order", "data-order-id": o.id, "data-status": o.status, text: `Order ${o.id.slice(-8)}: ${o.status.replace("_", " ")}, ${money(o.total, o.currency)}` })),
  );
  $("#cart-lines").replaceChildren();
  $("#cart-total").textContent = "";
  $("#checkout-form").hidden = true;
  box.focus();
}
