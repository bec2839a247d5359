//! The authorization matrix of the hub's client actions: every frame type and
//! every moderation action of docs/PROTOCOL.md, sent by every persona, against
//! an explicit list of who may. The list of actions is read from the server
//! itself (an unknown `type` or `action` is refused with serde's "expected one
//! of …"), so a new action without a rule here fails the suite.
//! (Pins and sale control are HTTP routes: see `authz.rs`.)

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::hub::{create_room, room_fixture, user, WsClient};
use crate::rooms::seller_with_shop;
use crate::support::{spawn_app, TestApp};

use crate::authz::Persona::{self, *};
use crate::authz::{EVERYONE, ROOM_STAFF, SIGNED_IN};

const NOBODY: &[Persona] = &[];

/// Refusal codes that mean "you may not", as opposed to "you may, but not this".
const DENIALS: &[&str] = &["login_required", "not_room_moderator", "room_not_found", "forbidden_channel", "invalid_token"];

struct Rule {
    /// The frame `type`, or `moderate:<action>`.
    action: &'static str,
    allowed: &'static [Persona],
    frame: fn(&World, Persona) -> Value,
}

fn moderate(action: &str, extra: Value) -> Value {
    let mut frame = json!({"type": "moderate", "room": "show", "action": action});
    if let (Some(frame), Value::Object(extra)) = (frame.as_object_mut(), extra) {
        frame.extend(extra);
    }
    frame
}

/// Who may do what on `/ws`. Room actions target the public room `show` of
/// shop acme (or its private room `backstage`); users target a bystander.
fn rules() -> Vec<Rule> {
    vec![
        Rule { action: "connect", allowed: SIGNED_IN, frame: |w, p| json!({"type": "connect", "token": w.token(p).unwrap_or("not-a-token")}) },
        Rule { action: "subscribe", allowed: EVERYONE, frame: |_, _| json!({"type": "subscribe", "channel": "room:show"}) },
        Rule { action: "subscribe:private_room", allowed: ROOM_STAFF, frame: |_, _| json!({"type": "subscribe", "channel": "room:backstage"}) },
        Rule { action: "subscribe:own_user_channel", allowed: SIGNED_IN, frame: |w, p| json!({"type": "subscribe", "channel": format!("user:{}", w.user_id(p))}) },
        Rule { action: "subscribe:another_users_channel", allowed: NOBODY, frame: |w, _| json!({"type": "subscribe", "channel": format!("user:{}", w.bystander)}) },
        Rule { action: "unsubscribe", allowed: EVERYONE, frame: |_, _| json!({"type": "unsubscribe", "channel": "room:lobby"}) },
        Rule { action: "chat.send", allowed: SIGNED_IN, frame: |_, _| json!({"type": "chat.send", "room": "lobby", "text": "hello"}) },
        Rule { action: "react", allowed: EVERYONE, frame: |_, _| json!({"type": "react", "room": "lobby", "kind": "heart"}) },
        Rule { action: "moderation.log", allowed: ROOM_STAFF, frame: |_, _| json!({"type": "moderation.log", "room": "show"}) },
        Rule { action: "moderation.held", allowed: ROOM_STAFF, frame: |_, _| json!({"type": "moderation.held", "room": "show"}) },
        Rule { action: "sale.reserve", allowed: SIGNED_IN, frame: |_, _| json!({"type": "sale.reserve", "room": "show", "sale_id": "no-such-sale", "quantity": 1}) },
        Rule { action: "sale.reserve:private_room", allowed: ROOM_STAFF, frame: |_, _| json!({"type": "sale.reserve", "room": "backstage", "sale_id": "no-such-sale", "quantity": 1}) },
        Rule { action: "card.track", allowed: EVERYONE, frame: |_, _| json!({"type": "card.track", "room": "show", "kind": "impression", "product_ids": ["no-such-product"]}) },
        Rule { action: "card.track:add_to_cart", allowed: SIGNED_IN, frame: |_, _| json!({"type": "card.track", "room": "show", "kind": "add_to_cart", "product_ids": ["no-such-product"]}) },
        Rule { action: "card.track:private_room", allowed: ROOM_STAFF, frame: |_, _| json!({"type": "card.track", "room": "backstage", "kind": "click", "product_ids": ["no-such-product"]}) },
        Rule { action: "poll.vote", allowed: SIGNED_IN, frame: |_, _| json!({"type": "poll.vote", "room": "show", "poll_id": "no-such-poll", "answer": 0}) },
        Rule { action: "poll.vote:private_room", allowed: ROOM_STAFF, frame: |_, _| json!({"type": "poll.vote", "room": "backstage", "poll_id": "no-such-poll", "answer": 0}) },
        Rule { action: "giveaway.enter", allowed: SIGNED_IN, frame: |_, _| json!({"type": "giveaway.enter", "room": "show", "giveaway_id": "no-such-giveaway"}) },
        Rule { action: "ping", allowed: EVERYONE, frame: |_, _| json!({"type": "ping"}) },
        Rule { action: "pong", allowed: EVERYONE, frame: |_, _| json!({"type": "pong"}) },
        Rule { action: "moderate:delete_message", allowed: ROOM_STAFF, frame: |w, _| moderate("delete_message", json!({"message_id": w.message_id})) },
        Rule { action: "moderate:timeout", allowed: ROOM_STAFF, frame: |w, _| moderate("timeout", json!({"user_id": w.bystander, "seconds": 60})) },
        Rule { action: "moderate:ban", allowed: ROOM_STAFF, frame: |w, _| moderate("ban", json!({"user_id": w.bystander})) },
        Rule { action: "moderate:unban", allowed: ROOM_STAFF, frame: |w, _| moderate("unban", json!({"user_id": w.bystander})) },
        Rule { action: "moderate:shadow_ban", allowed: ROOM_STAFF, frame: |w, _| moderate("shadow_ban", json!({"user_id": w.bystander})) },
        Rule { action: "moderate:unshadow", allowed: ROOM_STAFF, frame: |w, _| moderate("unshadow", json!({"user_id": w.bystander})) },
        Rule { action: "moderate:slow_mode", allowed: ROOM_STAFF, frame: |_, _| moderate("slow_mode", json!({"seconds": 0})) },
        Rule { action: "moderate:blocked_words", allowed: ROOM_STAFF, frame: |_, _| moderate("blocked_words", json!({"words": ["spoiler"]})) },
        Rule { action: "moderate:approve_message", allowed: ROOM_STAFF, frame: |w, _| moderate("approve_message", json!({"message_id": w.message_id})) },
        Rule { action: "moderate:pin_message", allowed: ROOM_STAFF, frame: |w, _| moderate("pin_message", json!({"message_id": w.message_id})) },
        Rule { action: "moderate:unpin_message", allowed: ROOM_STAFF, frame: |_, _| moderate("unpin_message", json!({})) },
    ]
}

/// Shop acme (public room `show`, private room `backstage`, and a `lobby`
/// every persona is subscribed to for chat and reactions), shop rival with
/// its own staff, a customer, an admin and a bystander who chatted once.
struct World {
    app: TestApp,
    tokens: Vec<(Persona, String, String)>,
    bystander: String,
    message_id: String,
}

impl World {
    fn token(&self, persona: Persona) -> Option<&str> {
        self.tokens.iter().find(|(p, _, _)| *p == persona).map(|(_, t, _)| t.as_str())
    }

    fn user_id(&self, persona: Persona) -> &str {
        self.tokens.iter().find(|(p, _, _)| *p == persona).map(|(_, _, id)| id.as_str()).unwrap_or("anonymous")
    }
}

async fn world() -> World {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let fixture = room_fixture(&app).await;
    create_room(&app, &fixture.seller, "backstage", "private").await;
    create_room(&app, &fixture.seller, "lobby", "public").await;
    let rival = seller_with_shop(&app, "rival@example.com", "rival").await;
    let (rival_moderator, rival_moderator_id) = user(&app, "rival-mo@example.com").await;
    let res = app.client.post(app.url("/api/v1/shops/rival/members")).bearer_auth(&rival).json(&json!({"email": "rival-mo@example.com", "role": "moderator"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let (customer, customer_id) = user(&app, "customer@example.com").await;
    let (bystander, bystander_id) = user(&app, "bystander@example.com").await;
    let me = |token: String| {
        let app = &app;
        async move {
            let body: Value = app.get_authed("/api/v1/me", &token).await.json().await.unwrap();
            (token, body["user"]["id"].as_str().unwrap().to_string())
        }
    };
    let (seller, seller_id) = me(fixture.seller).await;
    let (moderator, moderator_id) = me(fixture.moderator).await;
    let (rival, rival_id) = me(rival).await;
    let admin_token = admin["access_token"].as_str().unwrap().to_string();
    let (admin_token, admin_id) = me(admin_token).await;
    let mut chatter = WsClient::connect(&app, Some(&bystander)).await;
    chatter.subscribe("room:show", None).await;
    let ack = chatter.chat("show", "first!").await;
    let message_id = ack["result"]["message"]["id"].as_str().unwrap_or_else(|| panic!("chat ack: {ack}")).to_string();
    chatter.close().await;
    let tokens = vec![
        (Customer, customer, customer_id),
        (OtherSeller, rival, rival_id),
        (OtherModerator, rival_moderator, rival_moderator_id),
        (Moderator, moderator, moderator_id),
        (Seller, seller, seller_id),
        (Admin, admin_token, admin_id),
    ];
    World { app, tokens, bystander: bystander_id, message_id }
}

/// Every client frame `type` and moderation `action` the server knows, from
/// its own refusal of an unknown one.
async fn server_actions(ws: &mut WsClient) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    let types = ws.request(json!({"type": "no-such-type"})).await;
    for t in expected_variants(&types) {
        if t != "moderate" {
            actions.insert(t);
        }
    }
    let moderation = ws.request(json!({"type": "moderate", "room": "show", "action": "no-such-action"})).await;
    for a in expected_variants(&moderation) {
        actions.insert(format!("moderate:{a}"));
    }
    actions
}

/// The variant names in serde's "unknown variant `x`, expected one of `a`, `b`".
fn expected_variants(error: &Value) -> Vec<String> {
    let message = error["message"].as_str().unwrap_or_default();
    let list = message.split("expected one of").nth(1).unwrap_or_else(|| panic!("the refusal lists the known variants: {error}"));
    let list = list.split(';').next().unwrap_or_default();
    list.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// Sends `frame` with an id; the reply to it (`ack`, `error` or `pong`), or
/// `None` for frames that are never answered (a client's `pong`).
async fn answer(ws: &mut WsClient, frame: Value) -> Option<Value> {
    if frame["type"] == "pong" {
        ws.send(frame).await;
        let alive = ws.request(json!({"type": "moderation.log", "room": "no-such-room"})).await;
        assert_eq!(alive["type"], "error", "the connection still answers after a pong");
        return None;
    }
    if frame["type"] == "ping" {
        ws.send(json!({"type": "ping", "id": 99_999})).await;
        return Some(ws.next_where(|v| v["id"] == 99_999).await);
    }
    Some(ws.request(frame).await)
}

#[tokio::test]
async fn every_hub_action_the_server_knows_has_an_authorization_rule() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect(&app, None).await;
    let known = server_actions(&mut ws).await;
    assert!(known.contains("chat.send") && known.contains("moderate:ban"), "the server's lists were read: {known:?}");
    let ruled: BTreeSet<String> = rules().iter().map(|r| r.action.split(':').take(if r.action.starts_with("moderate:") { 2 } else { 1 }).collect::<Vec<_>>().join(":")).collect();
    let missing: Vec<&String> = known.iter().filter(|a| !ruled.contains(*a)).collect();
    assert!(missing.is_empty(), "hub actions without an authorization rule in ws_authz.rs: {missing:?}");
}

#[tokio::test]
async fn every_hub_action_admits_exactly_the_personas_its_rule_allows() {
    let world = world().await;
    let mut failures = Vec::new();
    for persona in EVERYONE.iter().copied() {
        let token = world.token(persona);
        for rule in rules() {
            // A fresh connection per action: one action's effect (a sign-in,
            // a subscription) never decides another's outcome.
            let connect_frame = rule.action == "connect";
            let mut ws = WsClient::connect(&world.app, if connect_frame { None } else { token }).await;
            if rule.action != "subscribe" && !rule.action.starts_with("subscribe:") && !connect_frame {
                ws.subscribe("room:lobby", None).await;
            }
            let reply = answer(&mut ws, (rule.frame)(&world, persona)).await;
            let denied = reply.as_ref().is_some_and(|r| r["type"] == "error" && DENIALS.contains(&r["code"].as_str().unwrap_or_default()));
            let expected = rule.allowed.contains(&persona);
            if denied == expected {
                failures.push(format!("{:?} {}: expected {}, got {}", persona, rule.action, if expected { "allowed" } else { "denied" }, reply.unwrap_or(Value::Null)));
            }
        }
    }
    assert!(failures.is_empty(), "authorization mismatches:\n{}", failures.join("\n"));
}
