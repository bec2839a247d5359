//! Which codecs a session uses. The SFU never transcodes, so a publisher is held
//! to ONE codec per kind (the first it offers that we support), and a viewer is
//! answered with exactly that codec or refused. Sans-IO over str0m's SDP engine.

use std::time::Instant;

use str0m::change::SdpOffer;
use str0m::config::DtlsCert;
use str0m::format::{Codec, CodecConfig, PayloadParams};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::{Rtc, RtcConfig};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("the SDP offer could not be parsed: {0}")]
    InvalidSdp(String),
    #[error("the offer was refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Unsupported(String),
}

/// H.264 we accept: constrained baseline, baseline and main, packetization-mode 1.
const H264_PROFILES: [(u8, u8, u32); 3] = [(108, 109, 0x42e01f), (127, 121, 0x42001f), (123, 119, 0x4d001f)];

/// Every session's starting point: ICE-lite on our one socket, the shared ECDSA
/// DTLS certificate, Opus, VP8, H.264 (packetization-mode 1), and VP9 and AV1 passed
/// through as they come (str0m packetizes both; we never look inside a frame beyond
/// its keyframe flag).
pub fn base_config(cert: &DtlsCert) -> RtcConfig {
    let mut config = RtcConfig::new()
        .set_ice_lite(true)
        .set_dtls_cert(cert.clone())
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true);
    for (pt, rtx, profile) in H264_PROFILES {
        config.codec_config().add_h264(pt.into(), Some(rtx.into()), true, profile);
    }
    config.enable_vp9(true).enable_av1(true)
}

pub fn parse_offer(sdp: &str) -> Result<SdpOffer, CodecError> {
    SdpOffer::from_sdp_string(sdp).map_err(|e| CodecError::InvalidSdp(e.to_string()))
}

/// The `m=audio` / `m=video` sections of an offer, by kind, in order.
fn offered_kinds(sdp: &str) -> Vec<MediaKind> {
    sdp.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            if l.starts_with("m=audio") {
                Some(MediaKind::Audio)
            } else if l.starts_with("m=video") {
                Some(MediaKind::Video)
            } else {
                None
            }
        })
        .collect()
}

/// Accepts `offer` on a scratch session and lists the media it negotiated.
fn negotiate(config: RtcConfig, sdp: &str, offer: SdpOffer) -> Result<(Rtc, Vec<(Mid, MediaKind)>), CodecError> {
    let mut rtc = config.build(Instant::now());
    rtc.sdp_api().accept_offer(offer).map_err(|e| CodecError::Refused(e.to_string()))?;
    let media = negotiated_media(&rtc, sdp).into_iter().map(|(mid, kind, _)| (mid, kind)).collect();
    Ok((rtc, media))
}

/// The audio/video media a session negotiated from the offer `sdp`, with our side's
/// direction. (str0m announces media only once connected; we need them at once.)
pub fn negotiated_media(rtc: &Rtc, sdp: &str) -> Vec<(Mid, MediaKind, Direction)> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a=mid:"))
        .filter_map(|mid| rtc.media(Mid::from(mid.trim())))
        .filter(|m| !m.disabled() && matches!(m.kind(), MediaKind::Audio | MediaKind::Video))
        .map(|m| (m.mid(), m.kind(), m.direction()))
        .collect()
}

/// The codec per kind a publisher will send: the first of its preference we support.
/// Every audio and video section of the offer must have one.
pub fn publisher_codecs(cert: &DtlsCert, sdp: &str) -> Result<Vec<PayloadParams>, CodecError> {
    let offer = parse_offer(sdp)?;
    let kinds = offered_kinds(sdp);
    if kinds.is_empty() {
        return Err(CodecError::Unsupported("the offer has no audio or video section".into()));
    }
    let (rtc, media) = negotiate(base_config(cert), sdp, offer)?;
    let mut chosen: Vec<PayloadParams> = Vec::new();
    for (mid, kind) in &media {
        let Some(m) = rtc.media(*mid) else { continue };
        let params = rtc.codec_config().params();
        let first = m.remote_pts().iter().find_map(|pt| params.iter().find(|p| p.pt() == *pt && is_forwardable(p)));
        match first {
            Some(p) if !chosen.iter().any(|c| c.pt() == p.pt()) => chosen.push(*p),
            Some(_) => {}
            None => {
                return Err(CodecError::Unsupported(format!(
                    "no supported {kind:?} codec offered; send Opus audio and VP8, H.264 (packetization-mode 1, baseline or main), VP9 or AV1 video"
                )))
            }
        }
    }
    let negotiated_kinds = media.iter().filter(|(mid, _)| rtc.media(*mid).is_some()).count();
    if negotiated_kinds < kinds.len() || chosen.is_empty() {
        return Err(CodecError::Unsupported(
            "an audio or video section offers no codec this server forwards; send Opus audio and VP8, H.264 (packetization-mode 1), VP9 or AV1 video".into(),
        ));
    }
    Ok(chosen)
}

fn is_forwardable(p: &PayloadParams) -> bool {
    let spec = p.spec();
    match spec.codec {
        Codec::Opus | Codec::Vp8 | Codec::Vp9 | Codec::Av1 => true,
        Codec::H264 => spec.format.packetization_mode == Some(1),
        _ => false,
    }
}

/// Whether an offer sends simulcast layers (RFC 8853 `a=simulcast`, with `a=rid`).
pub fn offers_simulcast(sdp: &str) -> bool {
    sdp.lines().any(|l| l.trim_start().starts_with("a=simulcast:"))
}

/// The session config for a peer of a room whose publisher sends `codecs`.
pub fn room_config(cert: &DtlsCert, codecs: &[PayloadParams]) -> RtcConfig {
    let mut config = base_config(cert);
    // Fresh (unlocked) params: each peer numbers its payload types its own way, and
    // str0m must be free to adopt the peer's numbers for the same codec.
    let fresh = codecs.iter().map(|p| PayloadParams::new(p.pt(), p.resend(), p.spec())).collect();
    *config.codec_config() = CodecConfig::new_from_payload_params(fresh);
    config
}

/// Checks a viewer's offer against the publisher's codecs: every media section the
/// viewer wants to receive must decode what the publisher sends.
pub fn check_viewer(cert: &DtlsCert, sdp: &str, codecs: &[PayloadParams]) -> Result<(), CodecError> {
    let offer = parse_offer(sdp)?;
    let kinds = offered_kinds(sdp);
    let (mut rtc, media) = negotiate(room_config(cert, codecs), sdp, offer)?;
    for kind in [MediaKind::Audio, MediaKind::Video] {
        let published = codecs.iter().find(|p| p.spec().codec.kind() == kind);
        let wanted = kinds.contains(&kind);
        let (Some(published), true) = (published, wanted) else { continue };
        // The section must have negotiated the published codec (the only one of its kind
        // in this config), not merely exist.
        let matched = media.iter().filter(|(_, k)| *k == kind).any(|(mid, _)| {
            rtc.writer(*mid).is_some_and(|w| w.payload_params().any(|p| p.spec().codec == published.spec().codec))
        });
        if !matched {
            return Err(CodecError::Unsupported(format!(
                "this stream is sent as {} and your player did not offer it; no transcoding is done",
                codec_name(published)
            )));
        }
    }
    Ok(())
}

/// Whether two publishers' codecs decode the same way (a viewer of one can watch the other).
pub fn same_codecs(a: &[PayloadParams], b: &[PayloadParams]) -> bool {
    let names = |codecs: &[PayloadParams]| {
        let mut names: Vec<String> = codecs.iter().map(codec_name).collect();
        names.sort();
        names
    };
    a.is_empty() || names(a) == names(b)
}

pub fn codec_name(p: &PayloadParams) -> String {
    let spec = p.spec();
    match (spec.codec, spec.format.profile_level_id) {
        (Codec::H264, Some(profile)) => format!("H.264 (profile-level-id {profile:06x}, packetization-mode 1)"),
        (Codec::Vp9, _) => format!("VP9 (profile {})", spec.format.profile_id.unwrap_or(0)),
        (Codec::Av1, _) => "AV1".to_string(),
        (codec, _) => format!("{codec}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn only_an_offer_with_simulcast_layers_counts_as_simulcast() {
        let plain = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\n";
        assert!(!offers_simulcast(plain));
        let layered = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rid:h send\r\na=rid:l send\r\na=simulcast:send h;l\r\n";
        assert!(offers_simulcast(layered));
    }

    pub fn test_cert() -> DtlsCert {
        str0m::crypto::from_feature_flags().dtls_provider.generate_certificate().expect("a certificate")
    }

    /// An offer from a str0m client with these codecs and sections.
    pub fn client_offer(configure: impl FnOnce(RtcConfig) -> RtcConfig, sections: &[(MediaKind, Direction)]) -> String {
        let mut client = configure(RtcConfig::new()).build(Instant::now());
        let mut api = client.sdp_api();
        for (kind, dir) in sections {
            api.add_media(*kind, *dir, None, None, None);
        }
        let (offer, _pending) = api.apply().expect("an offer");
        offer.to_sdp_string()
    }

    fn publisher_offer(configure: impl FnOnce(RtcConfig) -> RtcConfig) -> String {
        client_offer(configure, &[(MediaKind::Audio, Direction::SendOnly), (MediaKind::Video, Direction::SendOnly)])
    }

    #[test]
    fn a_minimal_hand_written_h264_offer_like_obs_sends_publishes_opus_and_h264() {
        let sdp = include_str!("../../fuzz/corpus/sdp_offer/minimal-publisher.sdp");
        let codecs = publisher_codecs(&test_cert(), sdp).unwrap();
        let names: Vec<Codec> = codecs.iter().map(|p| p.spec().codec).collect();
        assert_eq!(names, vec![Codec::Opus, Codec::H264]);
    }

    #[test]
    fn a_publisher_offering_vp8_and_opus_publishes_exactly_those() {
        let cert = test_cert();
        let sdp = publisher_offer(|c| c.clear_codecs().enable_opus(true, false).enable_vp8(true));
        let codecs = publisher_codecs(&cert, &sdp).unwrap();
        let names: Vec<Codec> = codecs.iter().map(|p| p.spec().codec).collect();
        assert_eq!(names, vec![Codec::Opus, Codec::Vp8]);
    }

    #[test]
    fn a_publisher_offering_several_video_codecs_is_held_to_its_first_supported_one() {
        let cert = test_cert();
        let sdp = publisher_offer(|c| c.clear_codecs().enable_opus(true, false).enable_h265(true).enable_h264(true).enable_vp8(true));
        let codecs = publisher_codecs(&cert, &sdp).unwrap();
        let video: Vec<&PayloadParams> = codecs.iter().filter(|p| p.spec().codec.is_video()).collect();
        assert_eq!(video.len(), 1);
        assert_eq!(video[0].spec().codec, Codec::H264);
        assert_eq!(video[0].spec().format.packetization_mode, Some(1));
    }

    #[test]
    fn vp9_and_av1_publishers_are_passed_through_in_their_codec() {
        let cert = test_cert();
        for (codec, configure) in [
            (Codec::Vp9, (|c: RtcConfig| c.clear_codecs().enable_opus(true, false).enable_vp9(true)) as fn(RtcConfig) -> RtcConfig),
            (Codec::Av1, |c: RtcConfig| c.clear_codecs().enable_opus(true, false).enable_av1(true)),
        ] {
            let codecs = publisher_codecs(&cert, &publisher_offer(configure)).unwrap();
            assert_eq!(codecs.iter().map(|p| p.spec().codec).collect::<Vec<_>>(), vec![Codec::Opus, codec]);
        }
    }

    #[test]
    fn a_publisher_offering_only_h265_video_is_unsupported() {
        let cert = test_cert();
        let sdp = publisher_offer(|c| c.clear_codecs().enable_opus(true, false).enable_h265(true));
        assert!(matches!(publisher_codecs(&cert, &sdp), Err(CodecError::Unsupported(_))));
    }

    #[test]
    fn a_vp9_stream_is_answered_in_vp9_to_a_player_that_offers_it_and_refused_to_one_that_does_not() {
        let cert = test_cert();
        let codecs = publisher_codecs(&cert, &publisher_offer(|c| c.clear_codecs().enable_opus(true, false).enable_vp9(true))).unwrap();
        let sections = [(MediaKind::Audio, Direction::RecvOnly), (MediaKind::Video, Direction::RecvOnly)];
        let vp9_player = client_offer(|c| c.clear_codecs().enable_opus(true, false).enable_vp8(true).enable_vp9(true), &sections);
        assert_eq!(check_viewer(&cert, &vp9_player, &codecs), Ok(()));
        let mut rtc = room_config(&cert, &codecs).build(Instant::now());
        let answer = rtc.sdp_api().accept_offer(parse_offer(&vp9_player).unwrap()).unwrap().to_sdp_string();
        assert!(answer.contains("VP9/90000") && !answer.contains("VP8/90000"), "{answer}");
        let vp8_player = client_offer(|c| c.clear_codecs().enable_opus(true, false).enable_vp8(true), &sections);
        let refused = check_viewer(&cert, &vp8_player, &codecs).unwrap_err();
        assert!(refused.to_string().contains("VP9"), "{refused}");
    }

    #[test]
    fn malformed_sdp_is_an_error_not_a_panic() {
        let cert = test_cert();
        for garbage in ["", "hello", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "v=0\r\no=- 1 1 IN IP4 0\r\ns=-\r\nt=0 0\r\nm=audio x y z\r\n", "\u{0}\u{ff}\r\n\r\n"] {
            assert!(publisher_codecs(&cert, garbage).is_err(), "{garbage:?}");
            assert!(check_viewer(&cert, garbage, &[]).is_err() || garbage.is_empty(), "{garbage:?}");
        }
    }

    #[test]
    fn a_viewer_numbering_payload_types_differently_still_gets_the_published_codec() {
        let cert = test_cert();
        let publisher = publisher_offer(|c| {
            let mut c = c.clear_codecs();
            c.codec_config().add_h264(102.into(), None, true, 0x42e01f);
            c.enable_opus(true, false)
        });
        let codecs = publisher_codecs(&cert, &publisher).unwrap();
        let viewer = client_offer(
            |c| {
                let mut c = c.clear_codecs();
                c.codec_config().add_h264(101.into(), Some(102.into()), true, 0x42e01f);
                c.enable_opus(true, false)
            },
            &[(MediaKind::Audio, Direction::RecvOnly), (MediaKind::Video, Direction::RecvOnly)],
        );
        assert_eq!(check_viewer(&cert, &viewer, &codecs), Ok(()));
        let mut rtc = room_config(&cert, &codecs).build(Instant::now());
        let answer = rtc.sdp_api().accept_offer(parse_offer(&viewer).unwrap()).unwrap().to_sdp_string();
        assert!(answer.contains("a=rtpmap:101 H264/90000"), "answered with the viewer's numbering: {answer}");
        assert!(answer.to_lowercase().contains("opus/48000"), "{answer}");
    }

    #[test]
    fn a_viewer_that_cannot_decode_the_published_codec_is_refused() {
        let cert = test_cert();
        let codecs = publisher_codecs(&cert, &publisher_offer(|c| c.clear_codecs().enable_opus(true, false).enable_h264(true))).unwrap();
        let vp8_only = client_offer(
            |c| c.clear_codecs().enable_opus(true, false).enable_vp8(true),
            &[(MediaKind::Audio, Direction::RecvOnly), (MediaKind::Video, Direction::RecvOnly)],
        );
        assert!(matches!(check_viewer(&cert, &vp8_only, &codecs), Err(CodecError::Unsupported(_))));
        let h264 = client_offer(
            |c| c.clear_codecs().enable_opus(true, false).enable_vp8(true).enable_h264(true),
            &[(MediaKind::Audio, Direction::RecvOnly), (MediaKind::Video, Direction::RecvOnly)],
        );
        assert_eq!(check_viewer(&cert, &h264, &codecs), Ok(()));
    }
}
