//! Local wall time ↔ UTC for what Zoe schedules. A reminder "at 9" keeps its local meaning: it is
//! stored as UTC milliseconds together with the local time and the zone it was set in, and its UTC
//! time is worked out again whenever the zone's rules may have moved it (at start, and when the
//! machine's zone changes). The rules at a change of clocks follow RFC 5545 (iCalendar): in the
//! overlap when clocks go back, the first of the two moments; in the gap when they go forward, the
//! time is read with the offset before the change (02:30 on the spring-forward night is 03:30
//! summer time), so it never fires "now" by mistake.
//!
//! Pure and generic over chrono's [`TimeZone`]: the running assistant passes [`Local`] (the
//! machine's zone), the tests a named zone from the tz database.

use chrono::{Duration, Local, LocalResult, NaiveDateTime, Offset, TimeZone};

/// UTC milliseconds of the local time `t` in `tz` (see the module's rules for the gap and the
/// overlap). `None` only for times chrono cannot represent.
pub fn utc_ms<Tz: TimeZone>(tz: &Tz, t: NaiveDateTime) -> Option<i64> {
    match tz.from_local_datetime(&t) {
        LocalResult::Single(d) => Some(d.timestamp_millis()),
        LocalResult::Ambiguous(first, _) => Some(first.timestamp_millis()),
        LocalResult::None => {
            // In the gap: the offset in force a few hours earlier (gaps last an hour, at most two).
            let before = t.checked_sub_signed(Duration::hours(3))?;
            let offset = match tz.from_local_datetime(&before) {
                LocalResult::Single(d) | LocalResult::Ambiguous(d, _) => d.offset().fix(),
                LocalResult::None => return None,
            };
            let utc = t.checked_sub_signed(Duration::seconds(offset.local_minus_utc().into()))?;
            Some(utc.and_utc().timestamp_millis())
        }
    }
}

/// The local time in `tz` of UTC milliseconds `ms` (`None` outside chrono's range).
pub fn local_of<Tz: TimeZone>(tz: &Tz, ms: i64) -> Option<NaiveDateTime> {
    tz.timestamp_millis_opt(ms)
        .single()
        .map(|d| d.naive_local())
}

/// The machine's zone by its tz database name ("Europe/London"), stored with each timed reminder
/// so a later change of zone can be noticed; "localtime" when the system does not say.
pub fn zone_name() -> String {
    iana_time_zone::get_timezone().unwrap_or_else(|_| "localtime".into())
}

/// [`utc_ms`] in the machine's zone.
pub fn local_utc_ms(t: NaiveDateTime) -> Option<i64> {
    utc_ms(&Local, t)
}

/// [`local_of`] in the machine's zone.
pub fn local_at(ms: i64) -> Option<NaiveDateTime> {
    local_of(&Local, ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Utc};
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::London;

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        t(y, mo, d, h, mi).and_utc().timestamp_millis()
    }

    /// Ordinary times, and times either side of both changes, are exact in both zones.
    #[test]
    fn ordinary_times_round_trip() {
        for (y, mo, d, h) in [(2026, 1, 15, 9), (2026, 7, 1, 9), (2026, 3, 7, 23)] {
            let local = t(y, mo, d, h, 0);
            for ms in [utc_ms(&London, local), utc_ms(&New_York, local)] {
                let ms = ms.unwrap();
                assert!(
                    local_of(&London, ms) == Some(local) || local_of(&New_York, ms) == Some(local)
                );
            }
        }
        // Summer in London is UTC+1, winter UTC+0.
        assert_eq!(
            utc_ms(&London, t(2026, 7, 1, 9, 0)),
            Some(utc(2026, 7, 1, 8, 0))
        );
        assert_eq!(
            utc_ms(&London, t(2026, 1, 15, 9, 0)),
            Some(utc(2026, 1, 15, 9, 0))
        );
    }

    /// Spring forward (New York, 8 March 2026, 02:00 → 03:00): 02:30 does not exist; it is read
    /// with the winter offset, so it is 03:30 summer time, not "now" and not 01:30.
    #[test]
    fn a_time_in_the_spring_forward_gap_is_read_with_the_offset_before() {
        let ms = utc_ms(&New_York, t(2026, 3, 8, 2, 30)).unwrap();
        assert_eq!(ms, utc(2026, 3, 8, 7, 30)); // 02:30 EST = 07:30 UTC
        assert_eq!(local_of(&New_York, ms), Some(t(2026, 3, 8, 3, 30)));
        // London's gap (29 March 2026, 01:00 → 02:00) likewise.
        let ms = utc_ms(&London, t(2026, 3, 29, 1, 15)).unwrap();
        assert_eq!(local_of(&London, ms), Some(t(2026, 3, 29, 2, 15)));
        // Either side of the gap is untouched.
        assert_eq!(
            utc_ms(&New_York, t(2026, 3, 8, 1, 59)),
            Some(utc(2026, 3, 8, 6, 59))
        );
        assert_eq!(
            utc_ms(&New_York, t(2026, 3, 8, 3, 0)),
            Some(utc(2026, 3, 8, 7, 0))
        );
    }

    /// Fall back (New York, 1 November 2026, 02:00 → 01:00): 01:30 happens twice; the first.
    #[test]
    fn a_time_in_the_fall_back_overlap_is_the_first_of_the_two() {
        let ms = utc_ms(&New_York, t(2026, 11, 1, 1, 30)).unwrap();
        assert_eq!(ms, utc(2026, 11, 1, 5, 30)); // 01:30 EDT (UTC-4)
        let second = Utc.timestamp_millis_opt(ms + 3_600_000).unwrap();
        assert_eq!(
            second.with_timezone(&New_York).naive_local(),
            t(2026, 11, 1, 1, 30),
            "an hour later it is 01:30 again"
        );
        // London's overlap (25 October 2026, 02:00 → 01:00).
        assert_eq!(
            utc_ms(&London, t(2026, 10, 25, 1, 30)),
            Some(utc(2026, 10, 25, 0, 30))
        );
    }

    /// "At 9 tomorrow", set the evening before a change, is 9 by the clock after it: the UTC time
    /// uses the next day's offset, not today's.
    #[test]
    fn a_local_time_across_a_change_keeps_its_local_meaning() {
        let ms = utc_ms(&New_York, t(2026, 3, 8, 9, 0)).unwrap();
        assert_eq!(ms, utc(2026, 3, 8, 13, 0)); // EDT, though set at EST on the 7th
        let ms = utc_ms(&New_York, t(2026, 11, 1, 9, 0)).unwrap();
        assert_eq!(ms, utc(2026, 11, 1, 14, 0)); // EST, though set at EDT on 31 October
    }
}
