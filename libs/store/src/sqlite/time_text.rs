//! Times as fixed-width UTC text (`2026-11-22T23:38:34.123456Z`), which sorts and compares in
//! SQL exactly as the instants do.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::api::{StoreError, StoreResult};

const FORMAT: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

pub fn format(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC).format(FORMAT).expect("UTC times format")
}

pub fn parse(text: &str) -> StoreResult<OffsetDateTime> {
    PrimitiveDateTime::parse(text, FORMAT)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|e| StoreError::Backend(format!("bad stored time '{text}': {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn round_trips_and_sorts_like_the_instants() {
        let earlier = datetime!(2026-11-22 23:38:34.1234567 +02:00);
        let later = datetime!(2026-11-22 22:38:35 UTC);
        assert_eq!(format(earlier), "2026-11-22T21:38:34.123456Z");
        assert_eq!(parse(&format(later)).unwrap(), later);
        assert!(format(earlier) < format(later));
    }
}
