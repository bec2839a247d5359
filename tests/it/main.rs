//! The integration suite: one test binary, one module per area. Each test
//! starts the real server on port 0 with a fresh store (its own SQLite file, or
//! its own PostgreSQL schema and Redis key prefix when the script selects them).

mod support;

mod accounts;
mod admin;
mod authz;
mod operations;
mod requests;
mod rooms;
mod commerce;
mod hub;
mod sfu_whip_whep;
mod sfu_media;
mod sfu_sessions;
mod sfu_tcp;
mod pages;
mod live;
mod overload;
mod outages;
mod ws_authz;
mod log_secrets;
mod security;
mod publish_rights;
mod livekit;
mod livekit_rtc;
