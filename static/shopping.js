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

async function buy(variantId) {
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
  let total = "";
  for (const group of cart.groups) {
    for (const item of group.items) {
      lines.append(el("li", {}, el("span", { text: `${item.quantity} × ${item.title}` }), el("span", { text: money(item.line_total, group.currency) })));
    }
    total = money(group.total, group.currency);
  }
  $("#cart-total").textContent = cart.item_count ? `Total ${total} (shipping included)` : "Your cart is empty.";
  $("#checkout").disabled = !cart.item_count;
  $("#checkout-form").hidden = !cart.item_count;
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
      const result = await api(
        "POST",
        "/api/v1/checkout",
        { payment: { card_number: $("#card-number").value } },
        { "idempotency-key": crypto.randomUUID() },
      );
      say(status, "");
      showConfirmation(result.orders);
      onOrder(result.orders);
    } catch (err) {
      say(status, err.message, "error");
      button.disabled = false;
    }
  });
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
