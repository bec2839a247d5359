//! Cursor pagination shared by every list. A cursor is opaque to clients: it
//! is the id of the last item returned (ids are time-ordered UUIDv7 text), or
//! for ranked search an offset, both base64url-encoded.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// Clamps a requested page size to 1..=MAX_LIMIT.
pub fn limit(requested: Option<i64>) -> i64 {
    requested.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

pub fn encode(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position.as_bytes())
}

/// `None` when the cursor was not produced by us.
pub fn decode(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.as_bytes()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    (!text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')).then_some(text)
}

/// Splits a page fetched with `limit + 1` rows into the page and the next cursor.
pub fn split<T>(mut rows: Vec<T>, limit: i64, position: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        let next = rows.last().map(|r| encode(&position(r)));
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let c = encode("0190-abc");
        assert_eq!(decode(&c).as_deref(), Some("0190-abc"));
        assert_eq!(decode("!!!"), None);
        assert_eq!(decode(&encode("x' OR 1=1")), None);
    }

    #[test]
    fn the_last_page_has_no_next_cursor() {
        let (page, next) = split(vec![1, 2, 3], 3, |n| n.to_string());
        assert_eq!((page.len(), next), (3, None));
        let (page, next) = split(vec![1, 2, 3, 4], 3, |n| n.to_string());
        assert_eq!(page, vec![1, 2, 3]);
        assert_eq!(next.and_then(|c| decode(&c)).as_deref(), Some("3"));
    }
}
