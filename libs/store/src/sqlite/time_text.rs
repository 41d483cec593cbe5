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
        .map_err(|e| StoreError::corrupt(format!("stored time '{text}'"), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn is_fixed_width_utc_with_six_fractional_digits() {
        assert_eq!(format(datetime!(2026-11-22 23:38:34.1234567 +02:00)), "2026-11-22T21:38:34.123456Z");
        assert_eq!(format(datetime!(2026-01-02 03:04:05 UTC)), "2026-01-02T03:04:05.000000Z");
        assert_eq!(format(datetime!(0999-01-01 00:00:00.5 UTC)), "0999-01-01T00:00:00.500000Z");
    }

    #[test]
    fn round_trips_at_microsecond_precision() {
        for t in [datetime!(2026-11-22 23:38:34.123456 UTC), datetime!(2026-11-22 23:38:34 -05:00), crate::api::now()] {
            assert_eq!(parse(&format(t)).unwrap(), t);
        }
        assert!(matches!(parse("2026-11-22 23:38:34"), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn sorts_as_the_instants_do() {
        let instants = [
            datetime!(2026-11-22 23:38:34.000001 UTC),
            datetime!(2026-11-22 23:38:34.1 +01:00),
            datetime!(2026-11-22 23:38:34 UTC),
            datetime!(2026-11-22 23:38:34.000010 UTC),
            datetime!(2025-12-31 23:59:59.999999 UTC),
            datetime!(2026-11-23 00:38:33.9 +01:00),
        ];
        let mut by_instant = instants.to_vec();
        by_instant.sort();
        let mut by_text: Vec<_> = instants.iter().map(|t| format(*t)).collect();
        by_text.sort();
        assert_eq!(by_text, by_instant.iter().map(|t| format(*t)).collect::<Vec<_>>());
    }
}
