//! The commerce core, end to end over HTTP: catalog, stock, cart, coupons,
//! checkout, orders, payments, webhooks, notifications, and the races the
//! store must win (stock, coupon limits, idempotent retries).

mod cart;
mod catalog;
mod money;
mod orders;
mod push;
mod outbox;
mod races;
mod shipping;
mod shops;
mod stock;
mod wallet;
mod webhook;

use serde_json::{json, Value};

pub use crate::rooms::seller_with_shop;
use crate::support::{TestApp, PASSWORD};

pub const GOOD_CARD: &str = "4242424242424242";
pub const DECLINED_CARD: &str = "4000000000000002";
pub const CONFIRM_LATER_CARD: &str = "4000000000003220";

/// A buyer's access token.
pub async fn buyer(app: &TestApp, email: &str) -> String {
    app.register(email).await["access_token"].as_str().unwrap().to_string()
}

/// `n` buyers, registered 25 at a time (argon2 makes one-by-one slow, and
/// all at once would queue longer than the store's acquire timeout).
pub async fn buyers(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let mut tokens = Vec::with_capacity(n);
    for start in (0..n).step_by(25) {
        tokens.extend(register_batch(app, prefix, start..n.min(start + 25)).await);
    }
    tokens
}

async fn register_batch(app: &TestApp, prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    let registrations = range.map(|i| {
        let email = format!("{prefix}{i}@example.com");
        async move {
            let res = app
                .post_json("/api/v1/auth/register", &json!({"email": email, "password": PASSWORD, "display_name": "Buyer"}))
                .await;
            assert_eq!(res.status(), 201);
            let body: Value = res.json().await.unwrap();
            body["access_token"].as_str().unwrap().to_string()
        }
    });
    futures::future::join_all(registrations).await
}

pub async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(path)).bearer_auth(token).json(&body).send().await.unwrap()
}

pub async fn put(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client.put(app.url(path)).bearer_auth(token).json(&body).send().await.unwrap()
}

pub async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let res = app.get_authed(path, token).await;
    assert_eq!(res.status(), 200, "GET {path}");
    res.json().await.unwrap()
}

/// Creates a product with one variant per `(sku, price, stock)`; returns the product body.
pub async fn product(app: &TestApp, token: &str, shop: &str, title: &str, variants: &[(&str, i64, i64)]) -> Value {
    let variants: Vec<Value> = variants.iter().map(|(sku, price, stock)| json!({"sku": sku, "price": price, "stock": stock, "weight_grams": 300})).collect();
    let res = post(app, token, &format!("/api/v1/shops/{shop}/products"), json!({"title": title, "description": format!("{title} from {shop}"), "variants": variants})).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// A published product with one variant; returns the variant id.
pub async fn published_variant(app: &TestApp, token: &str, shop: &str, sku: &str, price: i64, stock: i64) -> String {
    let p = product(app, token, shop, &format!("Item {sku}"), &[(sku, price, stock)]).await;
    let id = p["id"].as_str().unwrap();
    assert_eq!(post(app, token, &format!("/api/v1/shops/{shop}/products/{id}/publish"), json!({})).await.status(), 200);
    p["variants"][0]["id"].as_str().unwrap().to_string()
}

pub async fn add_to_cart(app: &TestApp, token: &str, variant: &str, quantity: i64) {
    let res = put(app, token, &format!("/api/v1/cart/items/{variant}"), json!({"quantity": quantity})).await;
    assert_eq!(res.status(), 200);
}

pub async fn checkout(app: &TestApp, token: &str, key: &str, card: Option<&str>) -> reqwest::Response {
    let body = match card {
        Some(card) => json!({"payment": {"card_number": card}}),
        None => json!({}),
    };
    app.client.post(app.url("/api/v1/checkout")).bearer_auth(token).header("Idempotency-Key", key).json(&body).send().await.unwrap()
}

/// The stock view of a variant, as its seller sees it.
pub async fn stock(app: &TestApp, seller: &str, shop: &str, variant: &str) -> Value {
    get(app, seller, &format!("/api/v1/shops/{shop}/variants/{variant}/stock")).await
}

/// The HMAC key the server verifies payment webhooks with (generated on first run).
pub fn webhook_secret(app: &TestApp) -> Vec<u8> {
    let text = std::fs::read_to_string(app.data_dir.path().join("secrets.json")).unwrap();
    let secrets: Value = serde_json::from_str(&text).unwrap();
    secrets["payment_webhook_secret"].as_str().unwrap().as_bytes().to_vec()
}

/// A handle on the app's own database, to step background work (expiry sweeps)
/// with a chosen clock instead of waiting for it. For an in-process server it is
/// the server's own `Store` (on SQLite a second writer connection could meet
/// `SQLITE_BUSY` when both write at once; the server keeps exactly one), else a
/// second connection to the same database.
pub async fn same_store(app: &TestApp) -> streamcart::store::Store {
    if let Some(store) = app.store() {
        return store;
    }
    match &app.settings.database_url {
        Some(url) => streamcart::store::Store::connect(url, 2).await.unwrap(),
        None => streamcart::store::Store::open_sqlite(app.data_dir.path()).await.unwrap(),
    }
}
