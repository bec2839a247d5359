//! Datagrams at the UDP socket entry: STUN, DTLS, RTP and RTCP are
//! demultiplexed by str0m with the SFU's own configuration and offered to one
//! long-lived session that has accepted a real offer (as the server's driver
//! does: every datagram meets state left by the ones before). Never a panic.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use str0m::change::SdpOffer;
use str0m::net::{Protocol, Receive};
use str0m::{Input, Output, Rtc};
use streamcart::sfu::codecs;

const OFFER: &str = include_str!("../corpus/sdp_offer/publisher.sdp");

fn session() -> &'static Mutex<Rtc> {
    static SESSION: OnceLock<Mutex<Rtc>> = OnceLock::new();
    SESSION.get_or_init(|| {
        let cert = str0m::crypto::from_feature_flags().dtls_provider.generate_certificate().expect("the fuzz harness can make a certificate");
        let mut rtc = codecs::base_config(&cert).build(Instant::now());
        let offer = SdpOffer::from_sdp_string(OFFER).expect("the seed offer parses");
        rtc.sdp_api().accept_offer(offer).expect("the seed offer is accepted");
        Mutex::new(rtc)
    })
}

fuzz_target!(|bytes: &[u8]| {
    let source: SocketAddr = ([127, 0, 0, 1], 5000).into();
    let destination: SocketAddr = ([127, 0, 0, 1], 7882).into();
    let Ok(receive) = Receive::new(Protocol::Udp, source, destination, bytes) else { return };
    let Ok(mut rtc) = session().lock() else { return };
    let input = Input::Receive(Instant::now(), receive);
    if rtc.accepts(&input) && rtc.handle_input(input).is_ok() {
        while let Ok(output) = rtc.poll_output() {
            if matches!(output, Output::Timeout(_)) {
                break;
            }
        }
    }
});
