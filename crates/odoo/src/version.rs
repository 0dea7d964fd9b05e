//! Odoo versions: `parse_version` (old setuptools algorithm, as
//! `odoo/tools/parse_version.py`), series (`17.0`, `saas~17.1`) and `adapt_version`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A version as `parse_version` reads it: a tuple of strings compared
/// element by element (numbers zero-padded to 8 digits, other parts `*`-prefixed).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParsedVersion(pub Vec<String>);

impl ParsedVersion {
    /// The parts from `start` on, like Python's `parsed[start:]`.
    pub fn tail(&self, start: usize) -> &[String] {
        self.0.get(start..).unwrap_or(&[])
    }
}

/// Splits like `re.split(r'(\d+|[a-z]+|\.|-)', s)`: matches and the text between them.
fn split_components(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut parts = Vec::new();
    let mut between = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let class = |ch: char| {
            if ch.is_ascii_digit() {
                1
            } else if ch.is_ascii_lowercase() {
                2
            } else {
                0
            }
        };
        let k = class(c);
        if k == 0 && c != '.' && c != '-' {
            between.push(c);
            i += 1;
            continue;
        }
        parts.push(std::mem::take(&mut between));
        let start = i;
        i += 1;
        if k != 0 {
            while i < chars.len() && class(chars[i]) == k {
                i += 1;
            }
        }
        parts.push(chars[start..i].iter().collect());
    }
    parts.push(between);
    parts
}

fn replace(part: &str) -> &str {
    match part {
        "pre" | "preview" | "rc" => "c",
        "-" | "_" => "final-",
        "dev" => "@",
        "saas" | "~" => "",
        other => other,
    }
}

/// Converts a version string to a sortable key, exactly as Odoo's `parse_version`.
///
/// `17.0.1` == `17.0.1.0` == `17.0.1.0.0`; an empty string reads as `0.1`.
pub fn parse_version(s: &str) -> ParsedVersion {
    let lowered = if s.is_empty() {
        "0.1".to_string()
    } else {
        s.to_lowercase()
    };
    let mut parts: Vec<String> = Vec::new();
    let components = split_components(&lowered);
    let mapped = components
        .iter()
        .map(|p| replace(p))
        .filter(|p| !p.is_empty() && *p != ".");
    let items = mapped
        .map(|p| {
            if p.starts_with(|c: char| c.is_ascii_digit()) {
                format!("{p:0>8}")
            } else {
                format!("*{p}")
            }
        })
        .chain(std::iter::once("*final".to_string()));
    for part in items {
        if part.starts_with('*') {
            if part.as_str() < "*final" {
                while parts.last().is_some_and(|p| p == "*final-") {
                    parts.pop();
                }
            }
            while parts.last().is_some_and(|p| p == "00000000") {
                parts.pop();
            }
        }
        parts.push(part);
    }
    ParsedVersion(parts)
}

/// Compares two version strings with `parse_version`.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    parse_version(a).cmp(&parse_version(b))
}

/// An Odoo series (`release.major_version`): `17.0` or `saas~17.1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Series {
    major: u32,
    minor: u32,
}

impl Series {
    /// The major number (17 for `17.0` and `saas~17.1`).
    pub fn major(&self) -> u32 {
        self.major
    }

    /// The series a full module version starts with (`17.0.1.2` -> `17.0`).
    pub fn of_version(version: &str) -> Option<Series> {
        let mut it = version.split('.');
        let first = it.next()?;
        let second = it.next()?;
        format!("{first}.{second}").parse().ok()
    }

    /// Whether 17.0+ rules apply (strict `adapt_version`, folder normalisation).
    pub fn is_17_or_later(&self) -> bool {
        self.major >= 17
    }
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.minor == 0 {
            write!(f, "{}.0", self.major)
        } else {
            write!(f, "saas~{}.{}", self.major, self.minor)
        }
    }
}

impl FromStr for Series {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidSeries(s.to_string());
        let (saas, rest) = match s.strip_prefix("saas~") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (major, minor) = rest.split_once('.').ok_or_else(bad)?;
        let num = |t: &str| {
            (!t.is_empty() && t.chars().all(|c| c.is_ascii_digit()))
                .then(|| t.parse::<u32>().ok())
                .flatten()
        };
        let (major, minor) = (num(major).ok_or_else(bad)?, num(minor).ok_or_else(bad)?);
        if saas != (minor != 0) || major < 6 {
            return Err(bad());
        }
        Ok(Series { major, minor })
    }
}

impl PartialOrd for Series {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Series {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor).cmp(&(other.major, other.minor))
    }
}

/// Odoo's `adapt_version`: prefixes the series unless the version already
/// starts with `<series>.`. From 17.0 the remainder must be `x.y` or `x.y.z`.
pub fn adapt_version(series: &Series, version: &str) -> Result<String, Error> {
    let serie = series.to_string();
    let prefix = format!("{serie}.");
    let (base, full) = match version.strip_prefix(&prefix) {
        Some(rest) if version != serie => (rest.to_string(), version.to_string()),
        _ => (version.to_string(), format!("{serie}.{version}")),
    };
    if series.is_17_or_later() && !is_two_or_three_numbers(&base) {
        return Err(Error::InvalidVersion {
            version: base,
            series: serie,
        });
    }
    Ok(full)
}

/// `^[0-9]+\.[0-9]+(\.[0-9]+)?$`
pub(crate) fn is_two_or_three_numbers(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pv(s: &str) -> Vec<String> {
        parse_version(s).0
    }

    fn s17() -> Series {
        "17.0".parse().unwrap()
    }

    #[test]
    fn parse_version_matches_python_tuples() {
        // Values printed by odoo/tools/parse_version.py.
        assert_eq!(
            pv("17.0.1.0"),
            ["00000017", "00000000", "00000001", "*final"]
        );
        assert_eq!(pv("17.0"), ["00000017", "*final"]);
        assert_eq!(pv(""), ["00000000", "00000001", "*final"]);
        assert_eq!(pv("saas~17.1"), ["00000017", "00000001", "*final"]);
        assert_eq!(pv("5.0.0-rc1"), ["00000005", "*c", "00000001", "*final"]);
        assert_eq!(
            pv("2.4-1"),
            ["00000002", "00000004", "*final-", "00000001", "*final"]
        );
        assert_eq!(pv("1.0dev"), ["00000001", "*@", "*final"]);
        assert_eq!(pv("1.0_rc2"), ["00000001", "*c", "00000002", "*final"]);
        assert_eq!(pv("1.0~x+y"), ["00000001", "*x", "*+", "*y", "*final"]);
        assert_eq!(
            pv("17.0.1.0a"),
            ["00000017", "00000000", "00000001", "*a", "*final"]
        );
    }

    #[test]
    fn trailing_zeros_do_not_count() {
        assert_eq!(parse_version("17.0.1"), parse_version("17.0.1.0"));
        assert_eq!(parse_version("17.0.1"), parse_version("17.0.1.0.0"));
        assert!(parse_version("17.0.1.0.1") > parse_version("17.0.1"));
    }

    #[test]
    fn setuptools_reference_orderings() {
        // The self-checks at the bottom of parse_version.py.
        let chains: [&[&str]; 2] = [
            &[
                "0",
                "4.2",
                "4.2.3.4",
                "5.0.0-alpha",
                "5.0.0-rc1",
                "5.0.0-rc1.1",
                "5.0.0_rc2",
                "5.0.0_rc3",
                "5.0.0",
            ],
            &["5.0.0-0_rc3", "5.0.0-1dev", "5.0.0-1"],
        ];
        for chain in chains {
            for w in chain.windows(2) {
                assert!(
                    parse_version(w[0]) < parse_version(w[1]),
                    "{} < {}",
                    w[0],
                    w[1]
                );
            }
        }
    }

    #[test]
    fn numbers_compare_numerically_and_saas_sits_between_majors() {
        assert!(parse_version("17.0.1.10") > parse_version("17.0.1.9"));
        assert!(parse_version("saas~17.1") > parse_version("17.0.99.0"));
        assert!(parse_version("saas~17.1") < parse_version("18.0"));
        assert!(parse_version("") < parse_version("1.0"));
        assert!(parse_version("17.0.1.0a") < parse_version("17.0.1.0"));
    }

    #[test]
    fn series_parse_and_display() {
        assert_eq!(s17().to_string(), "17.0");
        let saas: Series = "saas~17.1".parse().unwrap();
        assert_eq!(saas.to_string(), "saas~17.1");
        assert!(saas > s17());
        assert!("17.1".parse::<Series>().is_err());
        assert!("saas~17.0".parse::<Series>().is_err());
        assert!("17".parse::<Series>().is_err());
        assert_eq!(Series::of_version("16.0.1.3").unwrap().to_string(), "16.0");
    }

    #[test]
    fn adapt_version_prefixes_the_series() {
        assert_eq!(adapt_version(&s17(), "2.0").unwrap(), "17.0.2.0");
        assert_eq!(adapt_version(&s17(), "1.0.0").unwrap(), "17.0.1.0.0");
        assert_eq!(adapt_version(&s17(), "17.0.1.2").unwrap(), "17.0.1.2");
        assert_eq!(adapt_version(&s17(), "17.0").unwrap(), "17.0.17.0");
        let saas: Series = "saas~17.1".parse().unwrap();
        assert_eq!(adapt_version(&saas, "1.1").unwrap(), "saas~17.1.1.1");
    }

    #[test]
    fn adapt_version_17_rejects_odd_remainders() {
        for bad in ["1", "1.0.0.0", "1.0a", "16.0.1.0.0", "", "1..0"] {
            assert!(adapt_version(&s17(), bad).is_err(), "{bad}");
        }
        let s16: Series = "16.0".parse().unwrap();
        assert_eq!(adapt_version(&s16, "1").unwrap(), "16.0.1");
        assert_eq!(adapt_version(&s16, "1.0.0.0").unwrap(), "16.0.1.0.0.0");
    }
}
