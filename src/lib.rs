//! streamcart: live shopping in one binary. See ARCHITECTURE.md for the map.

pub mod admission;
pub mod api;
pub mod app;
pub mod auth;
pub mod commerce;
pub mod config;
pub mod demo;
pub mod error;
pub mod kv;
pub mod pages;
pub mod live;
pub mod livekit;
pub mod secrets;
pub mod signaling;
pub mod sfu;
pub mod store;
pub mod telemetry;

pub use app::{AppState, Application};
pub use config::Settings;
