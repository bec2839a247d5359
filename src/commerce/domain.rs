//! Commerce values parsed at the edge: a handler that holds one of these knows
//! it is valid.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidValue {
    pub code: &'static str,
    pub message: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> InvalidValue {
    InvalidValue { code, message: message.into() }
}

/// A stock-keeping unit: 1 to 64 of A-Z, a-z, 0-9, '-', '_', '.'; unique per shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Sku, InvalidValue> {
        let raw = raw.trim();
        let ok = (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if ok {
            Ok(Sku(raw.to_string()))
        } else {
            Err(invalid("invalid_sku", "sku must be 1 to 64 characters of letters, digits, '-', '_' or '.'"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A non-negative amount in minor units (cents), at most 10^12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MinorUnits(i64);

pub const MAX_MINOR_UNITS: i64 = 1_000_000_000_000;

impl MinorUnits {
    pub fn parse(value: i64, field: &str) -> Result<MinorUnits, InvalidValue> {
        if (0..=MAX_MINOR_UNITS).contains(&value) {
            Ok(MinorUnits(value))
        } else {
            Err(invalid("invalid_amount", format!("{field} must be an integer number of minor units (cents) between 0 and {MAX_MINOR_UNITS}")))
        }
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// How many units of a variant a line or movement is about: 1 to 10 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(i64);

pub const MAX_QUANTITY: i64 = 10_000;

impl Quantity {
    pub fn parse(value: i64) -> Result<Quantity, InvalidValue> {
        if (1..=MAX_QUANTITY).contains(&value) {
            Ok(Quantity(value))
        } else {
            Err(invalid("invalid_quantity", format!("quantity must be between 1 and {MAX_QUANTITY}")))
        }
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A free-text field: trimmed, 1..=max characters (0 allowed when `optional`), no control characters
/// except newlines in long texts.
pub fn parse_text(raw: &str, field: &str, max: usize, optional: bool) -> Result<String, InvalidValue> {
    let value = raw.trim();
    let len = value.chars().count();
    let bad_char = value.chars().any(|c| c.is_control() && c != '\n');
    if bad_char || len > max || (!optional && len == 0) {
        let min = if optional { 0 } else { 1 };
        return Err(invalid("invalid_text", format!("{field} must be {min} to {max} characters without control characters")));
    }
    Ok(value.to_string())
}

/// Image URLs: at most 10, each http(s) and at most 2048 characters.
pub fn parse_image_urls(urls: &[String]) -> Result<Vec<String>, InvalidValue> {
    if urls.len() > 10 {
        return Err(invalid("invalid_image_urls", "at most 10 image URLs"));
    }
    urls.iter()
        .map(|u| {
            let u = u.trim();
            let ok = (u.starts_with("https://") || u.starts_with("http://")) && u.len() <= 2048 && !u.chars().any(|c| c.is_whitespace() || c.is_control());
            if ok {
                Ok(u.to_string())
            } else {
                Err(invalid("invalid_image_urls", "image URLs must be http(s) URLs of at most 2048 characters"))
            }
        })
        .collect()
}

/// Variant options such as `{"size": "M", "color": "red"}`: at most 10 short string pairs.
pub fn parse_options(options: &std::collections::BTreeMap<String, String>) -> Result<String, InvalidValue> {
    let ok = options.len() <= 10
        && options.iter().all(|(k, v)| (1..=40).contains(&k.chars().count()) && v.chars().count() <= 80 && !k.chars().chain(v.chars()).any(char::is_control));
    if !ok {
        return Err(invalid("invalid_options", "options are at most 10 name/value pairs, names 1 to 40 and values up to 80 characters"));
    }
    serde_json::to_string(options).map_err(|_| invalid("invalid_options", "options must be string pairs"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sku_with_spaces_inside_is_refused() {
        assert!(Sku::parse("TEE-M-RED").is_ok());
        assert_eq!(Sku::parse("TEE M").unwrap_err().code, "invalid_sku");
    }

    #[test]
    fn quantities_and_amounts_are_bounded() {
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(MAX_QUANTITY + 1).is_err());
        assert!(MinorUnits::parse(-1, "price").is_err());
        assert_eq!(MinorUnits::parse(1999, "price").unwrap().get(), 1999);
    }
}
