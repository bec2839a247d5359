//! The authorization matrix: every documented route, called as every persona,
//! against an explicit list of who is allowed. A route without an entry here
//! fails `every_documented_route_has_an_authorization_rule`, so a new route
//! cannot ship without someone deciding who may call it.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::support::{spawn_app, spawn_app_with, TestApp, PASSWORD};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persona {
    Anonymous,
    Customer,
    /// Seller of another shop ("rival").
    OtherSeller,
    /// Moderator of another shop ("rival").
    OtherModerator,
    /// Moderator of the shop the route acts on ("acme").
    Moderator,
    /// Seller of the shop the route acts on ("acme").
    Seller,
    Admin,
}

use Persona::*;

pub const EVERYONE: &[Persona] = &[Anonymous, Customer, OtherSeller, OtherModerator, Moderator, Seller, Admin];
pub const SIGNED_IN: &[Persona] = &[Customer, OtherSeller, OtherModerator, Moderator, Seller, Admin];
const SHOP_SELLER: &[Persona] = &[Seller, Admin];
const ADMIN: &[Persona] = &[Admin];
/// Only the customer who placed the fixture order (and owns its notification).
const BUYER: &[Persona] = &[Customer];
pub const ROOM_STAFF: &[Persona] = &[Moderator, Seller, Admin];
const BUYER_OR_SELLER: &[Persona] = &[Customer, Seller, Admin];
/// Signed in and not the room's staff (a seller does not bid in their own auction).
const BIDDERS: &[Persona] = &[Customer, OtherSeller, OtherModerator, Admin];

struct Rule {
    method: &'static str,
    /// The OpenAPI path template; `{id}` is filled per route family (see `concrete`).
    path: &'static str,
    allowed: &'static [Persona],
    body: fn(&World, Persona) -> Value,
}

fn no_body(_: &World, _: Persona) -> Value {
    Value::Null
}

/// Who may call what. Keep sorted by path.
fn rules() -> Vec<Rule> {
    vec![
        Rule { method: "post", path: "/api/v1/admin/shops/{shop}/suspend", allowed: ADMIN, body: |_, _| json!({"reason": "checking"}) },
        Rule { method: "post", path: "/api/v1/admin/shops/{shop}/unsuspend", allowed: ADMIN, body: no_body },
        Rule { method: "get", path: "/api/v1/admin/users", allowed: ADMIN, body: no_body },
        Rule { method: "post", path: "/api/v1/admin/users/{id}/wallet/credits", allowed: ADMIN, body: |_, _| json!({"amount": 100, "currency": "USD", "reason": "goodwill"}) },
        Rule { method: "put", path: "/api/v1/admin/users/{id}/status", allowed: ADMIN, body: |_, _| json!({"disabled": false}) },
        Rule { method: "post", path: "/api/v1/auth/login", allowed: EVERYONE, body: |w, p| json!({"email": w.persona(p).email, "password": PASSWORD}) },
        Rule { method: "post", path: "/api/v1/auth/logout", allowed: SIGNED_IN, body: no_body },
        Rule { method: "post", path: "/api/v1/auth/refresh", allowed: EVERYONE, body: |w, p| json!({"refresh_token": w.persona(p).refresh_token}) },
        Rule { method: "post", path: "/api/v1/auth/register", allowed: EVERYONE, body: |_, _| json!({"email": "new@example.com", "password": "a long password", "display_name": "New"}) },
        Rule { method: "get", path: "/api/v1/cart", allowed: SIGNED_IN, body: no_body },
        Rule { method: "delete", path: "/api/v1/cart/coupon", allowed: SIGNED_IN, body: no_body },
        Rule { method: "put", path: "/api/v1/cart/coupon", allowed: SIGNED_IN, body: |_, _| json!({"code": "NOPE"}) },
        Rule { method: "delete", path: "/api/v1/cart/items/{variant_id}", allowed: SIGNED_IN, body: no_body },
        Rule { method: "put", path: "/api/v1/cart/shipping", allowed: SIGNED_IN, body: |_, _| json!({"country": "US"}) },
        Rule { method: "put", path: "/api/v1/cart/items/{variant_id}", allowed: SIGNED_IN, body: |_, _| json!({"quantity": 1}) },
        Rule { method: "post", path: "/api/v1/checkout", allowed: SIGNED_IN, body: |_, _| json!({}) },
        Rule { method: "post", path: "/api/v1/coupons", allowed: ADMIN, body: |_, _| json!({"code": "ALL10", "kind": "percent", "amount": 10}) },
        Rule { method: "get", path: "/api/v1/me", allowed: SIGNED_IN, body: no_body },
        Rule { method: "get", path: "/api/v1/notifications", allowed: SIGNED_IN, body: no_body },
        Rule { method: "post", path: "/api/v1/notifications/read-all", allowed: SIGNED_IN, body: no_body },
        Rule { method: "post", path: "/api/v1/notifications/{id}/read", allowed: BUYER, body: no_body },
        Rule { method: "get", path: "/api/v1/orders", allowed: SIGNED_IN, body: no_body },
        Rule { method: "get", path: "/api/v1/orders/{id}", allowed: BUYER_OR_SELLER, body: no_body },
        Rule { method: "post", path: "/api/v1/orders/{id}/cancel", allowed: BUYER_OR_SELLER, body: no_body },
        Rule { method: "get", path: "/api/v1/orders/{id}/invoice", allowed: BUYER_OR_SELLER, body: no_body },
        Rule { method: "post", path: "/api/v1/orders/{id}/pay", allowed: BUYER, body: |_, _| json!({"card_number": "4242424242424242"}) },
        Rule { method: "post", path: "/api/v1/payments/webhook", allowed: EVERYONE, body: |_, _| json!({"type": "payment.succeeded", "payment_id": "x"}) },
        Rule { method: "get", path: "/api/v1/products/{id}", allowed: EVERYONE, body: no_body },
        Rule { method: "get", path: "/api/v1/rooms/{room}", allowed: EVERYONE, body: no_body },
        Rule { method: "post", path: "/api/v1/rooms/{room}/events", allowed: SHOP_SELLER, body: |_, _| json!({"kind": "product.pinned", "data": {"product_id": "p1"}}) },
        Rule { method: "get", path: "/api/v1/rooms/{room}/auctions", allowed: EVERYONE, body: no_body },
        Rule { method: "post", path: "/api/v1/rooms/{room}/auctions", allowed: ROOM_STAFF, body: |w, _| json!({"variant_id": w.variant_id, "starting_price": 1000, "duration_secs": 60}) },
        Rule { method: "post", path: "/api/v1/rooms/{room}/auctions/{id}/bids", allowed: BIDDERS, body: |_, _| json!({"amount": 1000}) },
        Rule { method: "post", path: "/api/v1/rooms/{room}/auctions/{id}/cancel", allowed: ROOM_STAFF, body: no_body },
        Rule { method: "post", path: "/api/v1/rooms/{room}/auctions/{id}/offer-runner-up", allowed: ROOM_STAFF, body: no_body },
        Rule { method: "post", path: "/api/v1/rooms/{room}/card-events", allowed: EVERYONE, body: |w, _| json!({"kind": "impression", "product_ids": [w.product_id]}) },
        Rule { method: "get", path: "/api/v1/rooms/{room}/event-log", allowed: EVERYONE, body: no_body },
        Rule { method: "get", path: "/api/v1/rooms/{room}/giveaways", allowed: EVERYONE, body: no_body },
        Rule { method: "post", path: "/api/v1/rooms/{room}/giveaways", allowed: ROOM_STAFF, body: |_, _| json!({"prize": "A hat", "duration_secs": 60}) },
        Rule { method: "post", path: "/api/v1/rooms/{room}/giveaways/{id}/draw", allowed: ROOM_STAFF, body: no_body },
        Rule { method: "get", path: "/api/v1/rooms/{room}/giveaways/{id}/entrants", allowed: EVERYONE, body: no_body },
        Rule { method: "post", path: "/api/v1/rooms/{room}/giveaways/{id}/entries", allowed: BIDDERS, body: no_body },
        Rule { method: "get", path: "/api/v1/rooms/{room}/media-clock", allowed: EVERYONE, body: no_body },
        Rule { method: "get", path: "/api/v1/rooms/{room}/moderation-log", allowed: ROOM_STAFF, body: no_body },
        Rule { method: "get", path: "/api/v1/rooms/{room}/shop", allowed: EVERYONE, body: no_body },
        Rule { method: "get", path: "/api/v1/rooms/{room}/analytics", allowed: ROOM_STAFF, body: no_body },
        Rule { method: "get", path: "/api/v1/rooms/{room}/pins", allowed: EVERYONE, body: no_body },
        Rule { method: "post", path: "/api/v1/rooms/{room}/pins", allowed: ROOM_STAFF, body: |w, _| json!({"product_id": w.product_id}) },
        Rule { method: "delete", path: "/api/v1/rooms/{room}/pins/{id}", allowed: ROOM_STAFF, body: no_body },
        Rule { method: "get", path: "/api/v1/rooms/{room}/polls", allowed: EVERYONE, body: no_body },
        Rule { method: "post", path: "/api/v1/rooms/{room}/polls", allowed: ROOM_STAFF, body: |_, _| json!({"question": "Red or blue?", "answers": ["Red", "Blue"]}) },
        Rule { method: "post", path: "/api/v1/rooms/{room}/polls/{id}/close", allowed: ROOM_STAFF, body: no_body },
        Rule { method: "post", path: "/api/v1/rooms/{room}/polls/{id}/votes", allowed: SIGNED_IN, body: |_, _| json!({"answer": 0}) },
        Rule { method: "post", path: "/api/v1/rooms/{room}/reservations/{id}/checkout", allowed: SIGNED_IN, body: no_body },
        Rule { method: "get", path: "/api/v1/rooms/{room}/sales", allowed: EVERYONE, body: no_body },
        Rule { method: "post", path: "/api/v1/rooms/{room}/sales", allowed: SHOP_SELLER, body: |w, _| json!({"variant_id": w.variant_id, "sale_price": 1000, "total_quantity": 5, "per_buyer_cap": 1, "duration_secs": 60}) },
        Rule { method: "post", path: "/api/v1/rooms/{room}/sales/{id}/cancel", allowed: ROOM_STAFF, body: no_body },
        Rule { method: "post", path: "/api/v1/rooms/{room}/sales/{id}/reserve", allowed: SIGNED_IN, body: |_, _| json!({"quantity": 1}) },
        Rule { method: "post", path: "/api/v1/rooms/{room}/stream-key", allowed: SHOP_SELLER, body: no_body },
        Rule { method: "post", path: "/api/v1/rooms/{room}/token", allowed: SIGNED_IN, body: no_body },
        Rule { method: "get", path: "/api/v1/search", allowed: EVERYONE, body: no_body },
        Rule { method: "post", path: "/api/v1/setup", allowed: EVERYONE, body: |w, _| json!({"setup_token": w.app.setup_token, "email": "a@example.com", "password": "a long password", "display_name": "A"}) },
        Rule { method: "post", path: "/api/v1/shops", allowed: SIGNED_IN, body: |_, _| json!({"slug": "fresh-shop", "name": "Fresh"}) },
        Rule { method: "get", path: "/api/v1/shops/{shop}", allowed: EVERYONE, body: no_body },
        Rule { method: "get", path: "/api/v1/shops/{shop}/categories", allowed: EVERYONE, body: no_body },
        Rule { method: "post", path: "/api/v1/shops/{shop}/categories", allowed: SHOP_SELLER, body: |_, _| json!({"slug": "hats", "name": "Hats"}) },
        Rule { method: "post", path: "/api/v1/shops/{shop}/coupons", allowed: SHOP_SELLER, body: |_, _| json!({"code": "ACME10", "kind": "percent", "amount": 10}) },
        Rule { method: "post", path: "/api/v1/shops/{shop}/members", allowed: SHOP_SELLER, body: |_, _| json!({"email": "customer@example.com", "role": "moderator"}) },
        Rule { method: "get", path: "/api/v1/shops/{shop}/orders", allowed: SHOP_SELLER, body: no_body },
        Rule { method: "post", path: "/api/v1/shops/{shop}/orders/{id}/status", allowed: SHOP_SELLER, body: |_, _| json!({"status": "cancelled"}) },
        Rule { method: "post", path: "/api/v1/shops/{shop}/orders/{id}/refunds", allowed: SHOP_SELLER, body: |_, _| json!({"amount": 100}) },
        Rule { method: "post", path: "/api/v1/shops/{shop}/orders/{id}/tracking", allowed: SHOP_SELLER, body: |_, _| json!({"status": "in_transit"}) },
        Rule { method: "get", path: "/api/v1/shops/{shop}/products", allowed: EVERYONE, body: no_body },
        Rule { method: "post", path: "/api/v1/shops/{shop}/products", allowed: SHOP_SELLER, body: |_, _| json!({"title": "Hat", "variants": [{"sku": "HAT-1", "price": 1000, "stock": 1}]}) },
        Rule { method: "patch", path: "/api/v1/shops/{shop}/products/{id}", allowed: SHOP_SELLER, body: |_, _| json!({"title": "Renamed"}) },
        Rule { method: "post", path: "/api/v1/shops/{shop}/products/{id}/publish", allowed: SHOP_SELLER, body: no_body },
        Rule { method: "post", path: "/api/v1/shops/{shop}/products/{id}/unpublish", allowed: SHOP_SELLER, body: no_body },
        Rule { method: "post", path: "/api/v1/shops/{shop}/products/{id}/variants", allowed: SHOP_SELLER, body: |_, _| json!({"sku": "SHIRT-XL", "price": 4500, "stock": 1}) },
        Rule { method: "get", path: "/api/v1/shops/{shop}/shipping", allowed: EVERYONE, body: no_body },
        Rule { method: "put", path: "/api/v1/shops/{shop}/shipping", allowed: SHOP_SELLER, body: |_, _| json!({"free_shipping_from": null, "zones": [{"name": "All", "countries": ["*"], "bands": [{"up_to_grams": 5000, "price": 500}]}]}) },
        Rule { method: "get", path: "/api/v1/shops/{shop}/profile", allowed: EVERYONE, body: no_body },
        Rule { method: "patch", path: "/api/v1/shops/{shop}/profile", allowed: SHOP_SELLER, body: |_, _| json!({"accent_color": "#112233"}) },
        Rule { method: "get", path: "/api/v1/shops/{shop}/rooms", allowed: EVERYONE, body: no_body },
        Rule { method: "post", path: "/api/v1/shops/{shop}/rooms", allowed: SHOP_SELLER, body: |_, _| json!({"name": "another-room", "title": "Another"}) },
        Rule { method: "patch", path: "/api/v1/shops/{shop}/variants/{id}", allowed: SHOP_SELLER, body: |_, _| json!({"price": 4000}) },
        Rule { method: "get", path: "/api/v1/shops/{shop}/variants/{id}/stock", allowed: SHOP_SELLER, body: no_body },
        Rule { method: "post", path: "/api/v1/shops/{shop}/variants/{id}/stock/adjust", allowed: SHOP_SELLER, body: |_, _| json!({"delta": -1, "reason": "damaged"}) },
        Rule { method: "get", path: "/api/v1/shops/{shop}/variants/{id}/stock/movements", allowed: SHOP_SELLER, body: no_body },
        Rule { method: "post", path: "/api/v1/shops/{shop}/variants/{id}/stock/restock", allowed: SHOP_SELLER, body: |_, _| json!({"quantity": 5}) },
        Rule { method: "get", path: "/api/v1/shops/{shop}/wallet", allowed: SHOP_SELLER, body: no_body },
        Rule { method: "get", path: "/api/v1/wallet", allowed: SIGNED_IN, body: no_body },
        Rule { method: "options", path: "/whep/{room}", allowed: EVERYONE, body: no_body },
        Rule { method: "post", path: "/whep/{room}", allowed: EVERYONE, body: |_, _| Value::String("v=0 not really sdp".into()) },
        Rule { method: "options", path: "/whep/{room}/{session}", allowed: EVERYONE, body: no_body },
        Rule { method: "patch", path: "/whep/{room}/{session}", allowed: EVERYONE, body: no_body },
        Rule { method: "delete", path: "/whep/{room}/{session}", allowed: EVERYONE, body: no_body },
        Rule { method: "options", path: "/whip/{room}", allowed: EVERYONE, body: no_body },
        Rule { method: "post", path: "/whip/{room}", allowed: SHOP_SELLER, body: |_, _| Value::String("v=0 not really sdp".into()) },
        Rule { method: "options", path: "/whip/{room}/{session}", allowed: EVERYONE, body: no_body },
        Rule { method: "patch", path: "/whip/{room}/{session}", allowed: EVERYONE, body: no_body },
        Rule { method: "delete", path: "/whip/{room}/{session}", allowed: EVERYONE, body: no_body },
        Rule { method: "get", path: "/health/live", allowed: EVERYONE, body: no_body },
        Rule { method: "get", path: "/health/ready", allowed: EVERYONE, body: no_body },
        Rule { method: "get", path: "/metrics", allowed: EVERYONE, body: no_body },
    ]
}

/// Every persona signed in, a shop "acme" with a public room "show", and a
/// rival shop with its own seller and moderator.
struct World {
    app: TestApp,
    personas: Vec<PersonaSession>,
    customer_id: String,
    /// A published product of acme with one variant in stock.
    product_id: String,
    variant_id: String,
    /// The customer's pending order from acme, and its notification.
    order_id: String,
    notification_id: String,
}

struct PersonaSession {
    persona: Persona,
    email: String,
    /// `None` for the anonymous caller.
    access_token: Option<String>,
    /// A refresh token of this persona's own (anonymous gets a spare one of the customer's).
    refresh_token: String,
}

impl World {
    fn persona(&self, persona: Persona) -> &PersonaSession {
        self.personas.iter().find(|p| p.persona == persona).expect("every persona is in the world")
    }
}

async fn world() -> World {
    let app = spawn_app_with(|s| s.auth.login_attempts_per_account_per_minute = 100).await;
    let admin = app.create_admin().await;
    let mut signed_in = vec![(Admin, "admin@example.com".to_string(), admin)];
    for (persona, email) in [
        (Customer, "customer@example.com"),
        (Seller, "seller@example.com"),
        (Moderator, "moderator@example.com"),
        (OtherSeller, "rival-seller@example.com"),
        (OtherModerator, "rival-moderator@example.com"),
    ] {
        signed_in.push((persona, email.to_string(), app.register(email).await));
    }
    let token = |persona: Persona| signed_in.iter().find(|(p, _, _)| *p == persona).unwrap().2["access_token"].as_str().unwrap().to_string();
    for (owner, slug, staff) in [(Seller, "acme", "moderator@example.com"), (OtherSeller, "rival", "rival-moderator@example.com")] {
        let res = app.client.post(app.url("/api/v1/shops")).bearer_auth(token(owner)).json(&json!({"slug": slug, "name": slug})).send().await.unwrap();
        assert_eq!(res.status(), 201);
        let res = app
            .client
            .post(app.url(&format!("/api/v1/shops/{slug}/members")))
            .bearer_auth(token(owner))
            .json(&json!({"email": staff, "role": "moderator"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let res = app
        .client
        .post(app.url("/api/v1/shops/acme/rooms"))
        .bearer_auth(token(Seller))
        .json(&json!({"name": "show", "title": "Show"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let product: Value = app
        .client
        .post(app.url("/api/v1/shops/acme/products"))
        .bearer_auth(token(Seller))
        .json(&json!({"title": "Linen shirt", "variants": [{"sku": "SHIRT-M", "price": 4500, "stock": 100}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let product_id = product["id"].as_str().expect("product created").to_string();
    let variant_id = product["variants"][0]["id"].as_str().unwrap().to_string();
    let res = app.client.post(app.url(&format!("/api/v1/shops/acme/products/{product_id}/publish"))).bearer_auth(token(Seller)).send().await.unwrap();
    assert!(res.status().is_success());
    let res = app
        .client
        .put(app.url(&format!("/api/v1/cart/items/{variant_id}")))
        .bearer_auth(token(Customer))
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let checkout: Value = app
        .client
        .post(app.url("/api/v1/checkout"))
        .bearer_auth(token(Customer))
        .header("Idempotency-Key", "authz-world")
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let order_id = checkout["orders"][0]["id"].as_str().unwrap_or_else(|| panic!("checkout: {checkout}")).to_string();
    let notifications: Value = app.get_authed("/api/v1/notifications", &token(Customer)).await.json().await.unwrap();
    let notification_id = notifications["items"][0]["id"].as_str().unwrap_or_else(|| panic!("notifications: {notifications}")).to_string();
    let spare: Value = app.login("customer@example.com", PASSWORD).await.json().await.unwrap();
    let customer_id = signed_in.iter().find(|(p, _, _)| *p == Customer).unwrap().2["user"]["id"].as_str().unwrap().to_string();
    let mut personas: Vec<PersonaSession> = signed_in
        .into_iter()
        .map(|(persona, email, body)| PersonaSession {
            persona,
            email,
            access_token: body["access_token"].as_str().map(str::to_string),
            refresh_token: body["refresh_token"].as_str().unwrap().to_string(),
        })
        .collect();
    personas.push(PersonaSession {
        persona: Anonymous,
        email: "customer@example.com".into(),
        access_token: None,
        refresh_token: spare["refresh_token"].as_str().unwrap().to_string(),
    });
    World { app, personas, customer_id, product_id, variant_id, order_id, notification_id }
}

fn concrete(path: &str, world: &World) -> String {
    let id = if path.contains("/admin/users/") {
        &world.customer_id
    } else if path.contains("/products/") {
        &world.product_id
    } else if path.contains("/variants/") {
        &world.variant_id
    } else if path.contains("/orders/") {
        &world.order_id
    } else if path.contains("/notifications/") {
        &world.notification_id
    } else {
        "no-id-in-this-path"
    };
    path.replace("{shop}", "acme").replace("{room}", "show").replace("{session}", "no-such-session").replace("{variant_id}", &world.variant_id).replace("{id}", id)
}

async fn call(world: &World, rule: &Rule, persona: Persona) -> u16 {
    let url = world.app.url(&concrete(rule.path, world));
    let method = reqwest::Method::from_bytes(rule.method.to_uppercase().as_bytes()).unwrap();
    let mut request = world.app.client.request(method, url).header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
    if let Some(token) = &world.persona(persona).access_token {
        request = request.bearer_auth(token);
    }
    match (rule.body)(world, persona) {
        Value::Null => {}
        Value::String(sdp) => request = request.header("content-type", "application/sdp").body(sdp),
        json => request = request.json(&json),
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_documented_route_has_an_authorization_rule() {
    let app = spawn_app().await;
    let doc: Value = app.client.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    let listed: BTreeSet<(String, String)> = rules()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .chain(livekit_token_routes().iter().map(|(m, p, _)| (m.to_string(), p.to_string())))
        .collect();
    let missing: Vec<_> = documented.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&documented).collect();
    assert!(missing.is_empty(), "routes without an authorization rule in tests/it/authz.rs: {missing:?}");
    assert!(stale.is_empty(), "rules for routes that do not exist: {stale:?}");
}

#[tokio::test]
async fn every_route_admits_exactly_the_personas_its_rule_allows() {
    let mut failures = Vec::new();
    for rule in rules() {
        // A fresh world per route, so one persona's call cannot change another's outcome.
        let world = world().await;
        for persona in EVERYONE.iter().copied() {
            let status = call(&world, &rule, persona).await;
            let allowed = rule.allowed.contains(&persona);
            let ok = if allowed {
                status != 401 && status != 403
            } else if persona == Anonymous {
                status == 401
            } else {
                matches!(status, 403 | 404)
            };
            if !ok {
                failures.push(format!("{} {} as {persona:?}: {status} (allowed: {allowed})", rule.method, rule.path));
            }
        }
    }
    assert!(failures.is_empty(), "authorization matrix violations:\n{}", failures.join("\n"));
}

/// Routes that authenticate with LiveKit access tokens (LiveKit's grants decide), not
/// with our accounts: (method, path, a call that a token with the right grant may make).
/// Every account persona, signed in or not, gets LiveKit's 401 `unauthenticated`.
fn livekit_token_routes() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![("post", "/twirp/livekit.RoomService/{method}", "ListRooms")]
}

#[tokio::test]
async fn livekit_token_routes_refuse_every_account_and_admit_a_livekit_grant() {
    let world = world().await;
    // The world configures no keys, so the server generated one into secrets.json.
    let secrets: Value = serde_json::from_slice(&std::fs::read(world.app.data_dir.path().join("secrets.json")).unwrap()).unwrap();
    let keys = streamcart::livekit::LiveKitKeys::new(serde_json::from_value(secrets["api_keys"].clone()).unwrap());
    let (key, secret) = keys.signing_key().unwrap();
    let grant = livekit_api::access_token::VideoGrants { room_list: true, ..Default::default() };
    let livekit_token = livekit_api::access_token::AccessToken::with_api_key(key, secret).with_grants(grant).to_jwt().unwrap();
    let mut failures = Vec::new();
    for (method, path, concrete_method) in livekit_token_routes() {
        let url = world.app.url(&path.replace("{method}", concrete_method));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        for persona in EVERYONE.iter().copied() {
            let mut request = world.app.client.request(method.clone(), &url).json(&json!({}));
            if let Some(token) = &world.persona(persona).access_token {
                request = request.bearer_auth(token);
            }
            let status = request.send().await.unwrap().status().as_u16();
            if status != 401 {
                failures.push(format!("{path} as {persona:?}: {status}, expected 401"));
            }
        }
        let status = world.app.client.request(method.clone(), &url).bearer_auth(&livekit_token).json(&json!({})).send().await.unwrap().status().as_u16();
        if status == 401 || status == 403 {
            failures.push(format!("{path} with a LiveKit grant: {status}"));
        }
    }
    assert!(failures.is_empty(), "LiveKit-token routes:\n{}", failures.join("\n"));
}
