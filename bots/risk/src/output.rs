//! How the commands print: feature rows as CSV or JSON, dates in and out.

use std::io::Write;

use chrono::{DateTime, NaiveDate, Utc};

use crate::error::RiskError;
use crate::features::{NAMES, Row};

/// How rows are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

/// A `YYYY-MM-DD` date (midnight UTC) or an RFC 3339 time, as seconds since the epoch.
pub fn parse_date(text: &str) -> Result<i64, RiskError> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.timestamp())
        .map_err(|_| RiskError::Invalid(format!("`{text}` is not a date (YYYY-MM-DD) nor an RFC 3339 time")))
}

/// Seconds since the epoch as an RFC 3339 UTC time.
pub fn format_time(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0).map_or_else(|| seconds.to_string(), |time| time.to_rfc3339())
}

/// Writes the rows: CSV with a header (`commit,author,author_time,ns,…`), or JSON Lines.
pub fn write_rows<'a>(
    out: &mut impl Write,
    format: Format,
    rows: impl Iterator<Item = &'a Row>,
) -> std::io::Result<()> {
    match format {
        Format::Csv => {
            write!(out, "commit,author,author_time")?;
            for name in NAMES {
                write!(out, ",{name}")?;
            }
            writeln!(out)?;
            for row in rows {
                write!(out, "{},{},{}", row.commit, csv_field(&row.author), format_time(row.author_time))?;
                for value in row.values() {
                    write!(out, ",{}", number(value))?;
                }
                writeln!(out)?;
            }
        }
        Format::Json => {
            for row in rows {
                serde_json::to_writer(&mut *out, row)?;
                writeln!(out)?;
            }
        }
    }
    Ok(())
}

/// A number without a needless fraction, rounded to 6 places.
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        let text = format!("{value:.6}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_midnight_utc() {
        assert_eq!(parse_date("2020-10-01").unwrap(), 1_601_510_400);
        assert_eq!(parse_date("2020-10-01T02:00:00+02:00").unwrap(), 1_601_510_400);
        assert!(parse_date("October").is_err());
    }

    #[test]
    fn numbers_print_short() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(1.0 / 3.0), "0.333333");
    }
}
