//! JSON bodies of the write endpoints, through the same deserialization and
//! validation the handlers run before touching the store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamcart::api::{auth, rooms, shops};
use streamcart::auth::{DisplayName, Email, Password};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<auth::RegisterRequest>(bytes) {
        let _ = Email::parse(&body.email);
        let _ = DisplayName::parse(&body.display_name);
        let _ = Password::parse(body.password);
    }
    if let Ok(body) = serde_json::from_slice::<auth::LoginRequest>(bytes) {
        let _ = Email::parse(&body.email);
    }
    let _ = serde_json::from_slice::<auth::RefreshRequest>(bytes);
    if let Ok(body) = serde_json::from_slice::<shops::CreateShopRequest>(bytes) {
        let _ = shops::parse_slug(&body.slug, "slug");
    }
    let _ = serde_json::from_slice::<shops::AddMemberRequest>(bytes);
    if let Ok(body) = serde_json::from_slice::<rooms::CreateRoomRequest>(bytes) {
        let _ = shops::parse_slug(&body.name, "name");
    }
});
