//! Cron schedules as a Kubernetes CronJob takes them: the API server parses `spec.schedule` with
//! robfig/cron's standard parser, so that grammar is checked here, field by field, at generation
//! time (no Rust crate parses exactly that dialect: the common ones want a seconds field or take
//! Quartz extensions the API server refuses).

use anyhow::{Result, bail, ensure};

/// The descriptors the standard parser takes besides five fields.
const DESCRIPTORS: [&str; 7] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// One field: its name (for errors), its bounds and the names it takes for its values.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    },
    Field {
        name: "day of week",
        min: 0,
        max: 6,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    },
];

/// Checks `schedule` (what the user typed for `what`) as the API server will: five fields
/// (minute hour day-of-month month day-of-week) of `*`, `?`, values, ranges `a-b`, steps `/n`
/// and lists, or a descriptor (`@daily`, `@every 90m`). The error names the field and the value.
pub fn check(what: &str, schedule: &str) -> Result<()> {
    let shown = format!("{what} {schedule:?}");
    ensure!(
        !schedule.contains(char::is_control),
        "{shown} contains a control character: expected five fields separated by spaces, such as \"0 3 * * *\""
    );
    ensure!(
        !schedule.contains("TZ"),
        "{shown} names a time zone: the CronJob's schedule cannot (the API refuses TZ and CRON_TZ); schedules run in the controller's time zone, usually UTC"
    );
    if let Some(rest) = schedule.strip_prefix("@every ") {
        // As Go reads it: exactly one space, then the duration, nothing around it.
        ensure!(
            go_duration(rest),
            "{shown} is not @every <duration>: expected one space and a duration such as 90m or 1h30m (at most 2562047h)"
        );
        return Ok(());
    }
    if schedule.starts_with('@') {
        ensure!(
            DESCRIPTORS.contains(&schedule),
            "{shown} is not a descriptor: expected one of {} or @every <duration>",
            DESCRIPTORS.join(", ")
        );
        return Ok(());
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    ensure!(
        fields.len() == 5,
        "{shown} is not a cron schedule: {} fields, expected five (minute hour day-of-month month day-of-week) such as \"0 3 * * *\", a descriptor such as @daily, or none",
        fields.len()
    );
    for (text, field) in fields.iter().zip(&FIELDS) {
        for part in text.split(',') {
            check_part(part, field).map_err(|e| anyhow::anyhow!("{shown}: {} {e}", field.name))?;
        }
    }
    Ok(())
}

/// One item of a field's list: `*`, `?`, `a`, `a-b`, each with an optional `/step`.
fn check_part(part: &str, f: &Field) -> Result<()> {
    ensure!(!part.is_empty(), "has an empty item between commas");
    let (range, step) = match part.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (part, None),
    };
    if let Some(step) = step {
        match step.parse::<u32>() {
            Ok(n) if n > 0 => {}
            _ => bail!("{part:?}: the step after '/' must be a whole number above 0"),
        }
    }
    if range == "*" || range == "?" {
        return Ok(());
    }
    let (low, high) = match range.split_once('-') {
        Some((a, b)) => (value(a, f)?, value(b, f)?),
        None => {
            let v = value(range, f)?;
            (v, v)
        }
    };
    ensure!(low <= high, "{part:?}: the range starts after it ends");
    Ok(())
}

/// A value of the field: a number within its bounds, or one of its names (any case).
fn value(text: &str, f: &Field) -> Result<u32> {
    if let Some(i) = f.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(f.min + i as u32);
    }
    match text.parse::<u32>() {
        Ok(v) if (f.min..=f.max).contains(&v) && text.bytes().all(|b| b.is_ascii_digit()) => Ok(v),
        _ => {
            let names = match f.names {
                [] => String::new(),
                n => format!(
                    " or {}…{}",
                    n[0].to_uppercase(),
                    n[n.len() - 1].to_uppercase()
                ),
            };
            bail!(
                "{text:?} is out of range: expected {} to {}{names}",
                f.min,
                f.max
            )
        }
    }
}

/// A Go duration (`time.ParseDuration`) above zero and within Go's range (an int64 of
/// nanoseconds, about 2562047h): numbers with units ns, us, µs (either mu), ms, s, m, h.
fn go_duration(text: &str) -> bool {
    const UNITS: [(&str, f64); 8] = [
        ("ns", 1.0),
        ("us", 1e3),
        ("\u{b5}s", 1e3),
        ("\u{3bc}s", 1e3),
        ("ms", 1e6),
        ("s", 1e9),
        ("m", 60e9),
        ("h", 3600e9),
    ];
    let mut rest = text;
    let mut total = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let Ok(number) = rest[..digits].parse::<f64>() else {
            return false;
        };
        rest = &rest[digits..];
        let Some((unit, scale)) = UNITS
            .into_iter()
            .filter(|(u, _)| rest.starts_with(u))
            .max_by_key(|(u, _)| u.len())
        else {
            return false;
        };
        rest = &rest[unit.len()..];
        total += number * scale;
    }
    total > 0.0 && total <= i64::MAX as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_the_api_server_takes() {
        for ok in [
            "0 3 * * *",
            "*/15 1-5 * JAN,FEB MON-FRI",
            "0 0 1 */2 ?",
            "59 23 31 12 6",
            "5/10 * * * sun",
            "@daily",
            "@every 1h30m",
            "@every 90s",
            "@every 1\u{3bc}s",
            "@every 1.5h",
            "@every 2562047h",
        ] {
            assert!(check("s", ok).is_ok(), "{ok}: {:?}", check("s", ok));
        }
    }

    #[test]
    fn schedules_it_refuses_are_refused_naming_the_field() {
        for (bad, why) in [
            (
                "61 3 * * *",
                "minute \"61\" is out of range: expected 0 to 59",
            ),
            (
                "*/0 * * * *",
                "minute \"*/0\": the step after '/' must be a whole number above 0",
            ),
            (
                "0 3 * * 8",
                "day of week \"8\" is out of range: expected 0 to 6 or SUN…SAT",
            ),
            ("0 24 * * *", "hour \"24\" is out of range"),
            (
                "0 3 0 * *",
                "day of month \"0\" is out of range: expected 1 to 31",
            ),
            (
                "0 3 * 13 *",
                "month \"13\" is out of range: expected 1 to 12 or JAN…DEC",
            ),
            ("0 3 * * 5-1", "\"5-1\": the range starts after it ends"),
            ("0 3 L * *", "day of month \"L\" is out of range"),
            ("0 3 * *", "is not a cron schedule: 4 fields, expected five"),
            ("0 0 3 * * *", "6 fields"),
            ("@fortnightly", "is not a descriptor"),
            ("@every 0s", "is not @every <duration>"),
            ("@every  1h", "expected one space and a duration"),
            ("@every 1h ", "expected one space and a duration"),
            ("@every 9999999h", "at most 2562047h"),
            ("1,,2 * * * *", "minute has an empty item between commas"),
            ("@every soon", "is not @every <duration>"),
            ("CRON_TZ=UTC 0 3 * * *", "names a time zone"),
            ("0 3\n* * *", "contains a control character"),
            ("0 +3 * * *", "hour \"+3\" is out of range"),
        ] {
            let e = check("--backup-schedule", bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--backup-schedule {bad:?}")), "{e}");
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
