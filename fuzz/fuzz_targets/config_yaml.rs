//! The livekit.yaml loader: any text gives settings or a ConfigError, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = streamcart::config::Settings::from_yaml(text, "data");
});
