//! Places people ask the time in, to the tz database zone they mean: a city the database
//! names ("tokyo", "new york"), a country ([`COUNTRIES`], from the database's own tables), a US
//! state, a zone's common name ("central time", "pst"), or a few cities that are not a zone's own.
//! A country that spans several zones is a question back ("which city?"), never a guess.

use chrono_tz::Tz;

pub use super::countries::COUNTRIES;

/// Names that are not a zone's city or a country of one zone, and the zone they mean. The
/// countries here (China, Russia…) are their capital's, because people asking by the country's
/// name usually mean it.
const PLACES: &[(&str, &str)] = &[
    ("eastern", "America/New_York"),
    ("eastern time", "America/New_York"),
    ("the east coast", "America/New_York"),
    ("central", "America/Chicago"),
    ("central time", "America/Chicago"),
    ("mountain time", "America/Denver"),
    ("pacific", "America/Los_Angeles"),
    ("pacific time", "America/Los_Angeles"),
    ("the west coast", "America/Los_Angeles"),
    ("california", "America/Los_Angeles"),
    ("san francisco", "America/Los_Angeles"),
    ("las vegas", "America/Los_Angeles"),
    ("seattle", "America/Los_Angeles"),
    ("orlando", "America/New_York"),
    ("miami", "America/New_York"),
    ("boston", "America/New_York"),
    ("atlanta", "America/New_York"),
    ("dallas", "America/Chicago"),
    ("houston", "America/Chicago"),
    ("hawaii", "Pacific/Honolulu"),
    ("alaska", "America/Anchorage"),
    ("the uk", "Europe/London"),
    ("uk", "Europe/London"),
    ("england", "Europe/London"),
    // The United States by state (the zone of most of each), and the names of zones.
    ("alabama", "America/Chicago"),
    ("alaska", "America/Anchorage"),
    ("arizona", "America/Phoenix"),
    ("arkansas", "America/Chicago"),
    ("colorado", "America/Denver"),
    ("connecticut", "America/New_York"),
    ("delaware", "America/New_York"),
    ("florida", "America/New_York"),
    ("georgia", "America/New_York"),
    ("idaho", "America/Boise"),
    ("illinois", "America/Chicago"),
    ("indiana", "America/Indiana/Indianapolis"),
    ("iowa", "America/Chicago"),
    ("kansas", "America/Chicago"),
    ("kentucky", "America/New_York"),
    ("louisiana", "America/Chicago"),
    ("maine", "America/New_York"),
    ("maryland", "America/New_York"),
    ("massachusetts", "America/New_York"),
    ("michigan", "America/Detroit"),
    ("minnesota", "America/Chicago"),
    ("mississippi", "America/Chicago"),
    ("missouri", "America/Chicago"),
    ("montana", "America/Denver"),
    ("nebraska", "America/Chicago"),
    ("nevada", "America/Los_Angeles"),
    ("new hampshire", "America/New_York"),
    ("new jersey", "America/New_York"),
    ("new mexico", "America/Denver"),
    ("new york state", "America/New_York"),
    ("north carolina", "America/New_York"),
    ("north dakota", "America/Chicago"),
    ("ohio", "America/New_York"),
    ("oklahoma", "America/Chicago"),
    ("oregon", "America/Los_Angeles"),
    ("pennsylvania", "America/New_York"),
    ("rhode island", "America/New_York"),
    ("south carolina", "America/New_York"),
    ("south dakota", "America/Chicago"),
    ("tennessee", "America/Chicago"),
    ("texas", "America/Chicago"),
    ("utah", "America/Denver"),
    ("vermont", "America/New_York"),
    ("virginia", "America/New_York"),
    ("washington state", "America/Los_Angeles"),
    ("west virginia", "America/New_York"),
    ("wisconsin", "America/Chicago"),
    ("wyoming", "America/Denver"),
    ("washington dc", "America/New_York"),
    ("eastern time zone", "America/New_York"),
    ("est", "America/New_York"),
    ("edt", "America/New_York"),
    ("central time zone", "America/Chicago"),
    ("cst", "America/Chicago"),
    ("cdt", "America/Chicago"),
    ("mountain", "America/Denver"),
    ("mountain time zone", "America/Denver"),
    ("mst", "America/Denver"),
    ("pacific time zone", "America/Los_Angeles"),
    ("pst", "America/Los_Angeles"),
    ("pdt", "America/Los_Angeles"),
    ("gmt", "Etc/GMT"),
    ("utc", "Etc/UTC"),
    // Cities people name that are not a zone's own.
    ("ottawa", "America/Toronto"),
    ("montreal", "America/Toronto"),
    ("quebec", "America/Toronto"),
    ("calgary", "America/Edmonton"),
    ("sacramento", "America/Los_Angeles"),
    ("san diego", "America/Los_Angeles"),
    ("san jose", "America/Los_Angeles"),
    ("portland", "America/Los_Angeles"),
    ("philadelphia", "America/New_York"),
    ("new york city", "America/New_York"),
    ("nyc", "America/New_York"),
    ("la", "America/Los_Angeles"),
    ("austin", "America/Chicago"),
    ("san antonio", "America/Chicago"),
    ("new orleans", "America/Chicago"),
    ("nashville", "America/Chicago"),
    ("st louis", "America/Chicago"),
    ("minneapolis", "America/Chicago"),
    ("salt lake city", "America/Denver"),
    ("rio", "America/Sao_Paulo"),
    ("rio de janeiro", "America/Sao_Paulo"),
    ("brasilia", "America/Sao_Paulo"),
    ("canberra", "Australia/Sydney"),
    ("st petersburg", "Europe/Moscow"),
    ("bangalore", "Asia/Kolkata"),
    ("bengaluru", "Asia/Kolkata"),
    ("chennai", "Asia/Kolkata"),
    ("hyderabad", "Asia/Kolkata"),
    ("washington", "America/New_York"),
    ("scotland", "Europe/London"),
    ("wales", "Europe/London"),
    ("beijing", "Asia/Shanghai"),
    ("china", "Asia/Shanghai"),
    ("russia", "Europe/Moscow"),
    ("germany", "Europe/Berlin"),
    ("spain", "Europe/Madrid"),
    ("new delhi", "Asia/Kolkata"),
    ("delhi", "Asia/Kolkata"),
    ("mumbai", "Asia/Kolkata"),
];

/// What a place as said names.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    /// Its name as shown ("Tokyo") and its zone.
    Zone(String, Tz),
    /// A country of several zones, by name ("Canada").
    Several(String),
}

/// "the east coast" → "East Coast".
fn shown(place: &str) -> String {
    place
        .trim_start_matches("the ")
        .split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The zone of a place as said; "tokyo japan" and "orlando florida" by their first words.
/// `None`: not known (the model answers, or says it does not know), never a guess.
pub fn zone_of(said: &str) -> Option<Place> {
    let said = said
        .trim_end_matches(" time zone")
        .trim_end_matches(" timezone")
        .trim_end_matches(" time");
    let words: Vec<&str> = said.split_whitespace().collect();
    for n in (1..=words.len()).rev() {
        let place = words[..n].join(" ");
        let bare = place.trim_start_matches("the ");
        let named = PLACES
            .iter()
            .find(|(p, _)| *p == place || *p == bare)
            .and_then(|(_, z)| z.parse::<Tz>().ok());
        let city = || {
            chrono_tz::TZ_VARIANTS.iter().copied().find(|tz| {
                let name = tz.name();
                name.contains('/')
                    && name
                        .rsplit('/')
                        .next()
                        .is_some_and(|c| c.replace('_', " ").eq_ignore_ascii_case(&place))
            })
        };
        if let Some(zone) = named.or_else(city) {
            return Some(Place::Zone(shown(&place), zone));
        }
        if let Some((_, zones)) = COUNTRIES.iter().find(|(c, _)| *c == bare) {
            return Some(match zones {
                [one] => Place::Zone(shown(&place), one.parse().ok()?),
                _ => Place::Several(shown(&place)),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(said: &str) -> Option<String> {
        match zone_of(said)? {
            Place::Zone(shown, z) => Some(format!("{shown} {}", z.name())),
            Place::Several(c) => Some(format!("{c} several")),
        }
    }

    #[test]
    fn places_to_zones() {
        for (said, want) in [
            ("tokyo", "Tokyo Asia/Tokyo"),
            ("tokyo japan", "Tokyo Asia/Tokyo"),
            ("zimbabwe", "Zimbabwe Africa/Harare"),
            ("south korea", "South Korea Asia/Seoul"),
            ("alabama", "Alabama America/Chicago"),
            ("ottawa", "Ottawa America/Toronto"),
            ("the eastern time zone", "Eastern America/New_York"),
            ("california", "California America/Los_Angeles"),
            ("canada", "Canada several"),
            ("australia", "Australia several"),
            ("russia", "Russia Europe/Moscow"),
        ] {
            assert_eq!(zone(said).as_deref(), Some(want), "{said}");
        }
        for said in ["another city", "dooa", "my house"] {
            assert_eq!(zone(said), None, "{said}");
        }
    }
}
