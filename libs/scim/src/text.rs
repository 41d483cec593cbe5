//! Text rules every layer shares: the one case-folding rule, and spotting the JSON escapes of
//! unpaired UTF-16 surrogates, which no Rust string (and no database text) can hold.

use std::borrow::Cow;

/// Folds text to the key case-insensitive attributes compare by: Unicode's default full
/// lower-case mapping (`str::to_lowercase`, final sigma included). PostgreSQL compares with
/// `lower(… COLLATE "und-x-icu")`, whose root locale maps the same way, and SQLite gets this
/// very function (the store registers it), so both backends and the in-memory evaluation agree
/// (ADRs 0026 and 0034; the differential test in libs/store/tests checks it).
pub fn fold_case(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.to_lowercase()
}

/// `text` folded, or as it is when the comparison is case-exact.
pub fn folded(text: &str, case_exact: bool) -> Cow<'_, str> {
    if case_exact {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(fold_case(text))
    }
}

/// The first `\uXXXX` escape in a JSON text that is a surrogate without its partner
/// (`"\ud800"`, `"\udc00x"`), if any. A linear scan, run only on a body that failed to parse,
/// to tell a client which of its strings no store can keep.
pub fn unpaired_surrogate_escape(json: &[u8]) -> Option<u16> {
    let mut i = 0;
    let mut pending_high: Option<u16> = None;
    while i < json.len() {
        if json[i] != b'\\' {
            if let Some(high) = pending_high.take() {
                return Some(high);
            }
            i += 1;
            continue;
        }
        let unit = match json.get(i + 1) {
            Some(b'u') => {
                json.get(i + 2..i + 6).and_then(|hex| std::str::from_utf8(hex).ok()).and_then(|h| u16::from_str_radix(h, 16).ok())
            }
            _ => None,
        };
        match (pending_high.take(), unit) {
            (None, Some(u @ 0xD800..=0xDBFF)) => pending_high = Some(u),
            (None, Some(u @ 0xDC00..=0xDFFF)) => return Some(u),
            (Some(_), Some(0xDC00..=0xDFFF)) => {}
            (Some(high), _) => return Some(high),
            (None, _) => {}
        }
        // Skip the escape: six bytes for `\uXXXX`, two for `\"`, `\\` and the others.
        i += if unit.is_some() { 6 } else { 2 };
    }
    pending_high
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_beyond_ascii_as_unicode_lower_case_mapping() {
        assert_eq!(fold_case("Ärger@Example.COM"), "ärger@example.com");
        // The final-sigma rule, as ICU's lower() applies it on PostgreSQL.
        assert_eq!(fold_case("ΟΔΟΣ"), "οδος");
        assert_eq!(fold_case("İ"), "i\u{307}");
        assert_eq!(folded("MiXed", true), "MiXed");
    }

    #[test]
    fn finds_unpaired_surrogate_escapes_only() {
        assert_eq!(unpaired_surrogate_escape(br#"{"a":"\ud800"}"#), Some(0xD800));
        assert_eq!(unpaired_surrogate_escape(br#"{"a":"\uDC00x"}"#), Some(0xDC00));
        assert_eq!(unpaired_surrogate_escape(br#"{"a":"\ud800\u0041"}"#), Some(0xD800));
        assert_eq!(unpaired_surrogate_escape(br#"{"a":"\ud83d\ude00"}"#), None);
        assert_eq!(unpaired_surrogate_escape(br#"{"a":"\\ud800"}"#), None);
        assert_eq!(unpaired_surrogate_escape(br#"{"a":"\"\u00e9"}"#), None);
    }

    #[test]
    fn serde_json_refuses_unpaired_surrogate_escapes() {
        for body in [r#""\ud800""#, r#""\udc00""#, r#""\ud800x""#] {
            assert!(serde_json::from_str::<serde_json::Value>(body).is_err(), "{body}");
        }
        assert_eq!(serde_json::from_str::<String>(r#""\ud83d\ude00""#).unwrap(), "😀");
    }
}
