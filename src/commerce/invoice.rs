//! A printable HTML invoice for one order, sans-IO: data in, a complete
//! HTML document out, every user-supplied string escaped.

use std::fmt::Write;

pub struct InvoiceLine<'a> {
    pub sku: &'a str,
    pub title: &'a str,
    pub unit_price: i64,
    pub quantity: i64,
}

pub struct Invoice<'a> {
    pub order_id: &'a str,
    pub status: &'a str,
    pub shop_name: &'a str,
    pub customer: &'a str,
    pub currency: &'a str,
    /// Unix milliseconds.
    pub placed_at: i64,
    pub lines: Vec<InvoiceLine<'a>>,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub shipping: i64,
    pub total: i64,
}

/// Minor units as a decimal amount with the currency code ("45.00 USD").
/// Zero-decimal currencies print whole units.
pub fn format_money(minor: i64, currency: &str) -> String {
    const ZERO_DECIMAL: [&str; 8] = ["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"];
    if ZERO_DECIMAL.contains(&currency) {
        return format!("{minor} {currency}");
    }
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", abs / 100, abs % 100)
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn render(invoice: &Invoice<'_>) -> String {
    let money = |m: i64| escape(&format_money(m, invoice.currency));
    let mut rows = String::new();
    for l in &invoice.lines {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            escape(l.sku),
            escape(l.title),
            l.quantity,
            money(l.unit_price),
            money(l.unit_price.saturating_mul(l.quantity))
        );
    }
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Invoice {id}</title>\
<style>body{{font:14px system-ui,sans-serif;max-width:48rem;margin:2rem auto}}table{{width:100%;border-collapse:collapse}}\
td,th{{padding:.3rem;border-bottom:1px solid #ddd;text-align:left}}.n{{text-align:right}}@media print{{body{{margin:0}}}}</style></head>\
<body><h1>Invoice</h1><p>Order <code>{id}</code> · {status}<br>Placed {placed} (UTC ms)<br>Seller: {shop}<br>Customer: {customer}</p>\
<table><thead><tr><th>SKU</th><th>Item</th><th class=n>Qty</th><th class=n>Unit</th><th class=n>Amount</th></tr></thead><tbody>{rows}</tbody></table>\
<table><tbody><tr><td>Subtotal</td><td class=n>{subtotal}</td></tr><tr><td>Discount</td><td class=n>-{discount}</td></tr>\
<tr><td>Tax</td><td class=n>{tax}</td></tr><tr><td>Shipping</td><td class=n>{shipping}</td></tr>\
<tr><th>Total</th><th class=n>{total}</th></tr></tbody></table></body></html>",
        id = escape(invoice.order_id),
        status = escape(invoice.status),
        placed = invoice.placed_at,
        shop = escape(invoice.shop_name),
        customer = escape(invoice.customer),
        subtotal = money(invoice.subtotal),
        discount = money(invoice.discount),
        tax = money(invoice.tax),
        shipping = money(invoice.shipping),
        total = money(invoice.total),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_prints_two_decimals_except_for_zero_decimal_currencies() {
        assert_eq!(format_money(4505, "USD"), "45.05 USD");
        assert_eq!(format_money(7, "EUR"), "0.07 EUR");
        assert_eq!(format_money(1200, "JPY"), "1200 JPY");
    }

    #[test]
    fn user_text_cannot_inject_markup() {
        let html = render(&Invoice {
            order_id: "o1",
            status: "paid",
            shop_name: "<b>Acme</b>",
            customer: "ann@example.com",
            currency: "USD",
            placed_at: 0,
            lines: vec![InvoiceLine { sku: "S1", title: "<script>alert(1)</script>", unit_price: 100, quantity: 2 }],
            subtotal: 200,
            discount: 0,
            tax: 0,
            shipping: 0,
            total: 200,
        });
        assert!(!html.contains("<script>") && !html.contains("<b>Acme"));
        assert!(html.contains("&lt;script&gt;") && html.contains("2.00 USD"));
    }
}
