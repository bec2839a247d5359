//! The SDP text of WHIP/WHEP `PATCH` (RFC 9725 §4.3, RFC 8840 sdpfrags): trickled
//! candidates, ICE restarts (new `ice-ufrag`/`ice-pwd`), and the fragment we answer a
//! restart with. Sans-IO string work; the engine does the ICE itself.

use str0m::Candidate;

/// What a `PATCH` body asks for.
#[derive(Debug)]
pub struct Fragment {
    /// `a=ice-ufrag` / `a=ice-pwd`, when present (both or neither).
    pub credentials: Option<(String, String)>,
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FragmentError {
    #[error("bad candidate line {0:?}")]
    BadCandidate(String),
    #[error("a fragment with a=ice-ufrag needs a=ice-pwd too (and the other way round)")]
    HalfCredentials,
}

/// Parses an `application/trickle-ice-sdpfrag` body. Lines other than candidates and
/// ICE credentials (`m=`, `a=mid`, `a=ice-options`, `a=end-of-candidates`…) are ignored.
pub fn parse_fragment(fragment: &str) -> Result<Fragment, FragmentError> {
    let credentials = match (sdp_attribute(fragment, "ice-ufrag"), sdp_attribute(fragment, "ice-pwd")) {
        (Some(ufrag), Some(pwd)) if !ufrag.is_empty() && !pwd.is_empty() => Some((ufrag, pwd)),
        (None, None) => None,
        _ => return Err(FragmentError::HalfCredentials),
    };
    let mut candidates = Vec::new();
    for line in fragment.lines().map(str::trim) {
        let Some(candidate) = line.strip_prefix("a=").filter(|c| c.starts_with("candidate:")) else { continue };
        candidates.push(Candidate::from_sdp_string(candidate).map_err(|_| FragmentError::BadCandidate(line.chars().take(200).collect()))?);
    }
    Ok(Fragment { credentials, candidates })
}

/// The value of the first `a=name:value` line.
pub fn sdp_attribute(sdp: &str, name: &str) -> Option<String> {
    let prefix = format!("a={name}:");
    sdp.lines().find_map(|l| l.trim().strip_prefix(prefix.as_str()).map(|v| v.trim().to_string()))
}

/// `sdp` with every `a=ice-ufrag` / `a=ice-pwd` line replaced and its candidates
/// dropped (they belong to the old credentials; a restart starts over with the ones
/// trickled with it): the SDP a peer restarting ICE would have sent.
pub fn with_credentials(sdp: &str, ufrag: &str, pwd: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.lines() {
        let trimmed = line.trim_end();
        if trimmed.starts_with("a=candidate:") || trimmed == "a=end-of-candidates" {
            continue;
        }
        if trimmed.starts_with("a=ice-ufrag:") {
            out.push_str("a=ice-ufrag:");
            out.push_str(ufrag);
        } else if trimmed.starts_with("a=ice-pwd:") {
            out.push_str("a=ice-pwd:");
            out.push_str(pwd);
        } else {
            out.push_str(trimmed);
        }
        out.push_str("\r\n");
    }
    out
}

/// The body of a `200` to an ICE restart: our new credentials (RFC 9725 §4.4) and our
/// candidates under them (the same addresses; their `ufrag` attribute is the new one).
pub fn restart_answer_fragment(answer_sdp: &str) -> Option<String> {
    let ufrag = sdp_attribute(answer_sdp, "ice-ufrag")?;
    let pwd = sdp_attribute(answer_sdp, "ice-pwd")?;
    let mut fragment = format!("a=ice-lite\r\na=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n");
    let mut candidates: Vec<&str> = answer_sdp.lines().map(str::trim).filter(|l| l.starts_with("a=candidate:")).collect();
    candidates.dedup();
    for line in &candidates {
        fragment.push_str(line);
        fragment.push_str("\r\n");
    }
    if !candidates.is_empty() {
        fragment.push_str("a=end-of-candidates\r\n");
    }
    Some(fragment)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:old\r\na=ice-pwd:oldpassword\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=ice-ufrag:old\r\na=ice-pwd:oldpassword\r\na=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host ufrag old\r\na=end-of-candidates\r\n";

    #[test]
    fn a_trickle_fragment_yields_its_candidates_and_no_credentials_change() {
        let f = parse_fragment("a=mid:0\r\na=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\na=end-of-candidates\r\n").unwrap();
        assert!(f.credentials.is_none());
        assert_eq!(f.candidates.len(), 1);
    }

    #[test]
    fn a_restart_fragment_yields_the_new_credentials() {
        let f = parse_fragment("a=ice-ufrag:new\r\na=ice-pwd:newpasswordnewpassword\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n").unwrap();
        assert_eq!(f.credentials, Some(("new".into(), "newpasswordnewpassword".into())));
    }

    #[test]
    fn half_credentials_and_bad_candidates_are_refused() {
        assert_eq!(parse_fragment("a=ice-ufrag:new\r\n").unwrap_err(), FragmentError::HalfCredentials);
        assert!(matches!(parse_fragment("a=candidate:garbage\r\n"), Err(FragmentError::BadCandidate(_))));
    }

    #[test]
    fn every_credential_line_of_an_offer_is_replaced_and_its_old_candidates_dropped() {
        let renewed = with_credentials(OFFER, "new", "newpwd");
        assert!(!renewed.contains("candidate"), "{renewed}");
        assert_eq!(renewed.matches("a=ice-ufrag:new\r\n").count(), 2);
        assert_eq!(renewed.matches("a=ice-pwd:newpwd\r\n").count(), 2);
        assert!(!renewed.contains("old"));
        assert!(renewed.contains("a=mid:0\r\n"));
    }

    #[test]
    fn the_restart_answer_carries_our_new_credentials_and_candidates() {
        let frag = restart_answer_fragment("v=0\r\na=ice-ufrag:abc\r\na=ice-pwd:defghi\r\n").unwrap();
        assert_eq!(frag, "a=ice-lite\r\na=ice-ufrag:abc\r\na=ice-pwd:defghi\r\n");
        let answer = "v=0\r\na=ice-ufrag:abc\r\na=ice-pwd:defghi\r\na=candidate:1 1 udp 2122260223 127.0.0.1 7882 typ host ufrag abc\r\n";
        let frag = restart_answer_fragment(answer).unwrap();
        assert!(frag.ends_with("a=candidate:1 1 udp 2122260223 127.0.0.1 7882 typ host ufrag abc\r\na=end-of-candidates\r\n"), "{frag}");
    }
}
