//! SDP offers as WHIP and WHEP receive them: parsing, codec negotiation for a
//! publisher, and the viewer compatibility check. Never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use str0m::config::DtlsCert;
use streamcart::sfu::codecs;

fn cert() -> &'static DtlsCert {
    static CERT: OnceLock<DtlsCert> = OnceLock::new();
    CERT.get_or_init(|| str0m::crypto::from_feature_flags().dtls_provider.generate_certificate().expect("the fuzz harness can make a certificate"))
}

fuzz_target!(|sdp: &str| {
    // `publisher_codecs` parses the offer first, as the WHIP handler does: parsing it
    // here as well would only halve the rate (str0m's parser is most of the time).
    if let Ok(published) = codecs::publisher_codecs(cert(), sdp) {
        let _ = codecs::check_viewer(cert(), sdp, &published);
    }
});
