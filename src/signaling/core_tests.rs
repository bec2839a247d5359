//! The hub core driven with scripted inputs and a fake clock.

use serde_json::{json, Value};

use super::*;
use crate::signaling::rules::{Sanction, SanctionKind};

fn frames_for(outputs: &[Output], conn: ConnId) -> Vec<Value> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { conns, frame } if conns.contains(&conn) => Some(serde_json::from_str(frame.as_str()).unwrap()),
            _ => None,
        })
        .collect()
}

fn core() -> HubCore {
    HubCore::new(HubConfig::default(), "e1".into())
}

fn room() -> ChannelName {
    ChannelName::room("show")
}

/// Connects `conn` as `user` and completes a fresh subscription to the room.
fn joined(core: &mut HubCore, conn: ConnId, user: &str) {
    core.connect(conn, Some(user.into()), user.into());
    if !core.has_rules("show") {
        core.set_rules("show", RoomRules::default(), 0);
    }
    let SubscribeStep::NeedsSnapshot { .. } = core.subscribe(conn, &room(), None, None, 0).unwrap() else { panic!("snapshot") };
    core.complete_snapshot(conn, &room(), None, json!({}));
}

#[test]
fn a_publication_reaches_every_subscriber_with_increasing_offsets() {
    let mut core = core();
    joined(&mut core, 1, "a");
    joined(&mut core, 2, "b");
    core.publish_local(&room(), Event::new("x", json!(1)), 0);
    let out = core.publish_local(&room(), Event::new("x", json!(2)), 0);
    let frames = frames_for(&out, 2);
    assert_eq!(frames[0]["offset"], 2);
    assert_eq!(frames[0]["epoch"], "e1");
    assert_eq!(frames_for(&out, 1), frames);
}

#[test]
fn a_resubscribe_with_a_position_gets_the_ack_then_exactly_the_missed_publications() {
    let mut core = core();
    joined(&mut core, 1, "a");
    core.publish_local(&room(), Event::new("x", json!(1)), 0);
    core.disconnect(1, 0);
    core.publish_local(&room(), Event::new("x", json!(2)), 0);
    core.publish_local(&room(), Event::new("x", json!(3)), 0);
    core.connect(3, Some("a".into()), "a".into());
    let SubscribeStep::Done(out) = core.subscribe(3, &room(), Some(Position { offset: 1, epoch: "e1".into() }), Some(9), 0).unwrap() else {
        panic!("recovers")
    };
    let frames = frames_for(&out, 3);
    assert_eq!(frames[0]["type"], "ack");
    assert_eq!(frames[0]["result"]["recovered"], true);
    let data: Vec<_> = frames[1..].iter().map(|f| f["event"]["data"].clone()).collect();
    assert_eq!(data, vec![json!(2), json!(3)]);
}

#[test]
fn publications_during_a_snapshot_load_follow_the_snapshot() {
    let mut core = core();
    core.connect(1, None, "anon".into());
    assert!(matches!(core.subscribe(1, &room(), None, None, 0).unwrap(), SubscribeStep::NeedsSnapshot { .. }));
    assert!(frames_for(&core.publish_local(&room(), Event::new("x", json!(1)), 0), 1).is_empty());
    let frames = frames_for(&core.complete_snapshot(1, &room(), None, json!({"title": "t"})), 1);
    let types: Vec<_> = frames.iter().map(|f| f["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(types, ["ack", "snapshot", "pub"]);
    assert_eq!(frames[1]["offset"], 0);
    assert_eq!(frames[2]["offset"], 1);
}

#[test]
fn a_deleted_message_is_redacted_from_history() {
    let mut core = core();
    joined(&mut core, 1, "a");
    core.publish_local(&room(), Event::new("chat.message", json!({"id": "m1", "text": "secret"})), 0);
    core.publish_local(&room(), Event::new("chat.deleted", json!({"id": "m1"})), 0);
    core.connect(2, None, "late".into());
    let SubscribeStep::Done(out) = core.subscribe(2, &room(), Some(Position { offset: 0, epoch: "e1".into() }), None, 0).unwrap() else {
        panic!("recovers")
    };
    let text: String = frames_for(&out, 2).iter().map(|f| f.to_string()).collect();
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn banning_a_user_ends_their_subscription_and_refuses_a_new_one() {
    let mut core = core();
    joined(&mut core, 1, "bad");
    let rules = RoomRules { sanctions: vec![Sanction { user_id: "bad".into(), kind: SanctionKind::Ban, until: None }], ..Default::default() };
    let out = core.set_rules("show", rules, 0);
    assert_eq!(frames_for(&out, 1)[0]["type"], "unsubscribed");
    assert!(!core.is_subscribed(1, &room()));
    assert_eq!(core.subscribe(1, &room(), None, None, 0).unwrap_err().code, "banned");
}

#[test]
fn a_shadow_echo_reaches_only_its_author() {
    let mut core = core();
    joined(&mut core, 1, "shadowed");
    joined(&mut core, 2, "other");
    let out = core.send_to_user_on("shadowed", &room(), Event::new("chat.message", json!({"text": "hi"})));
    assert_eq!(frames_for(&out, 1).len(), 1);
    assert!(frames_for(&out, 2).is_empty());
}

#[test]
fn reactions_leave_as_one_aggregate_per_tick() {
    let mut core = core();
    joined(&mut core, 1, "a");
    for _ in 0..30 {
        core.react(1, "show", "heart", 2).unwrap();
    }
    let tick = core.tick(1_000);
    assert_eq!(tick.reactions.len(), 1);
    assert_eq!(tick.reactions[0].1.data, json!({"counts": {"heart": 60}}));
    assert!(core.tick(2_000).reactions.is_empty());
}

#[test]
fn presence_is_published_only_when_it_changes() {
    let mut core = core();
    joined(&mut core, 1, "a");
    joined(&mut core, 2, "b");
    let tick = core.tick(1_000);
    let local = core.local_presence(&tick.presence[0]);
    assert_eq!(local, Presence { viewers: 2, peak: 2, unique: 2 });
    assert_eq!(frames_for(&core.apply_presence("show", local), 1)[0]["event"]["kind"], "presence");
    assert!(core.apply_presence("show", local).is_empty());
}

#[test]
fn a_subscriber_whose_snapshot_buffer_overflows_is_kicked_as_slow() {
    let mut core = HubCore::new(HubConfig { snapshot_buffer_max: 2, ..HubConfig::default() }, "e1".into());
    core.connect(1, None, "x".into());
    core.subscribe(1, &room(), None, None, 0).unwrap();
    core.publish_local(&room(), Event::new("x", json!(1)), 0);
    core.publish_local(&room(), Event::new("x", json!(2)), 0);
    let out = core.publish_local(&room(), Event::new("x", json!(3)), 0);
    assert_eq!(out, vec![Output::Kick { conn: 1, reason: Disconnect::Slow }]);
}
