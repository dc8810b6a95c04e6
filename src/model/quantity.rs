//! Kubernetes resource quantities (`500m`, `2Gi`, `1e3`): validated, and read as a number.

use std::fmt;

use anyhow::{Result, anyhow};
use serde::{Deserialize, Deserializer, Serialize};

/// A positive Kubernetes quantity, kept exactly as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Quantity {
    text: String,
    #[serde(skip)]
    value: f64,
}

const SUFFIXES: &[(&str, f64)] = &[
    ("Ki", 1024.0),
    ("Mi", 1_048_576.0),
    ("Gi", 1_073_741_824.0),
    ("Ti", 1_099_511_627_776.0),
    ("Pi", 1_125_899_906_842_624.0),
    ("Ei", 1_152_921_504_606_846_976.0),
    ("n", 1e-9),
    ("u", 1e-6),
    ("m", 1e-3),
    ("", 1.0),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("E", 1e18),
];

impl Quantity {
    /// Parse `text` for the setting `what` (named in errors, e.g. `--memory`).
    pub fn parse(what: &str, text: &str) -> Result<Quantity> {
        Quantity::from_text(text).map_err(|e| anyhow!("{what} {e}"))
    }

    /// Parse `text`; the error names the text and what is allowed.
    fn from_text(text: &str) -> Result<Quantity, String> {
        let allowed = "a positive Kubernetes quantity such as 500m, 2, 512Mi, 20Gi or 1G";
        let Some(value) = value_of(text) else {
            return Err(format!(
                "{text:?} is not a Kubernetes quantity: expected {allowed}"
            ));
        };
        if !value.is_finite() {
            return Err(format!("{text:?} is too large: expected {allowed}"));
        }
        if value <= 0.0 {
            return Err(format!(
                "{text:?} must be greater than zero: expected {allowed}"
            ));
        }
        Ok(Quantity {
            text: text.to_owned(),
            value,
        })
    }

    /// The quantity as a plain number (bytes for memory, cores for CPU).
    pub fn value(&self) -> f64 {
        self.value
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Written as a YAML string or number (`memory: 2Gi`, `cpu: 2`).
impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = super::scalar::Scalar::deserialize(d)?;
        Quantity::from_text(&text.0).map_err(serde::de::Error::custom)
    }
}

/// The grammar of `k8s.io/apimachinery/pkg/api/resource`: sign? digits (. digits)? suffix,
/// where the suffix is a binary SI, decimal SI or decimal exponent (`e3`, `E-2`) suffix.
fn value_of(text: &str) -> Option<f64> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_end);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let base: f64 = format!("{}.{}", if int.is_empty() { "0" } else { int }, frac)
        .parse()
        .ok()?;
    let multiplier = if let Some(&(_, m)) = SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        m
    } else {
        let exp = suffix.strip_prefix(['e', 'E'])?;
        let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        10f64.powi(exp.parse().ok()?)
    };
    let v = base * multiplier;
    Some(if negative { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kubernetes_quantities() {
        for (text, value) in [
            ("500m", 0.5),
            ("2", 2.0),
            ("1.5", 1.5),
            (".5", 0.5),
            ("512Mi", 536_870_912.0),
            ("20Gi", 21_474_836_480.0),
            ("1G", 1e9),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("+1Ki", 1024.0),
        ] {
            let q = Quantity::parse("x", text).unwrap();
            assert!((q.value() - value).abs() < 1e-9, "{text}: {}", q.value());
            assert_eq!(q.as_str(), text);
        }
    }

    #[test]
    fn rejects_what_kubernetes_rejects() {
        for text in [
            "10GB", "", "Gi", "1.2.3", "1 Gi", "ten", "1gi", "1e", "1e+", "0x10",
        ] {
            let e = Quantity::parse("--storage-size", text)
                .unwrap_err()
                .to_string();
            assert!(e.contains("is not a Kubernetes quantity"), "{text}: {e}");
            assert!(e.starts_with("--storage-size"), "{e}");
        }
    }

    #[test]
    fn rejects_zero_and_negative() {
        for text in ["-5Gi", "0", "0Mi", "-1"] {
            let e = Quantity::parse("--memory", text).unwrap_err().to_string();
            assert!(e.contains("must be greater than zero"), "{text}: {e}");
        }
    }
}
