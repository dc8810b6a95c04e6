//! Object names derived from one instance name, and the DNS rules they must satisfy.

use anyhow::{Result, bail};
use serde::Serialize;

/// The longest instance name: the StatefulSet controller labels each pod with
/// `controller-revision-hash: <name>-<hash>` (hash up to 10 characters) and labels are ≤ 63.
pub const MAX_NAME: usize = 52;

/// Every object name of one instance, derived in one place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Names {
    pub instance: String,
    pub statefulset: String,
    pub headless: String,
    pub client: String,
    pub primary: String,
    pub config: String,
    pub scripts: String,
    pub secret: String,
    /// The backups' PersistentVolumeClaim.
    pub backups: String,
    pub backup_job: String,
    pub restore_job: String,
}

impl Names {
    pub fn new(instance: &str) -> Result<Names> {
        check_label("name", instance, MAX_NAME)?;
        if !instance.starts_with(|c: char| c.is_ascii_lowercase()) {
            bail!(
                "name {instance:?} must start with a letter: Service names derived from it are DNS-1035 labels"
            );
        }
        let with = |suffix: &str| format!("{instance}-{suffix}");
        Ok(Names {
            instance: instance.to_owned(),
            statefulset: instance.to_owned(),
            headless: with("headless"),
            client: instance.to_owned(),
            primary: with("primary"),
            config: with("config"),
            scripts: with("scripts"),
            secret: with("credentials"),
            backups: with("backups"),
            backup_job: with("backup"),
            restore_job: with("restore"),
        })
    }

    /// The pod name of an ordinal: `<statefulset>-<ordinal>`.
    pub fn pod(&self, ordinal: u32) -> String {
        format!("{}-{ordinal}", self.statefulset)
    }
}

/// A DNS-1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric.
pub fn check_label(what: &str, value: &str, max: usize) -> Result<()> {
    let allowed = format!(
        "lowercase letters, digits and '-', starting and ending with a letter or digit, at most {max} characters"
    );
    if value.is_empty() {
        bail!("{what} is empty: expected {allowed}");
    }
    if value.len() > max {
        bail!(
            "{what} {value:?} is {} characters long: expected {allowed}",
            value.len()
        );
    }
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_ends = !value.starts_with('-') && !value.ends_with('-');
    if !ok_chars || !ok_ends {
        bail!("{what} {value:?} is not a valid DNS-1123 label: expected {allowed}");
    }
    Ok(())
}

/// A DNS-1123 subdomain as the API server checks object names (Secrets, StorageClasses):
/// dot-separated parts of lowercase letters, digits and '-', at most 253 characters in all (no
/// limit per part: a 64-character Secret name is valid).
pub fn check_subdomain(what: &str, value: &str) -> Result<()> {
    check_dotted(what, value, 253)
}

/// A DNS domain (the cluster's): a subdomain whose labels are at most 63 characters, as DNS
/// needs them.
pub fn check_domain(what: &str, value: &str) -> Result<()> {
    check_dotted(what, value, 63)
}

fn check_dotted(what: &str, value: &str, max_label: usize) -> Result<()> {
    if value.is_empty() || value.len() > 253 {
        bail!("{what} {value:?} must be 1 to 253 characters of dot-separated DNS labels");
    }
    for label in value.split('.') {
        check_label(what, label, max_label).map_err(|_| {
            anyhow::anyhow!(
                "{what} {value:?} is not a valid DNS name: expected dot-separated parts of lowercase letters, digits and '-'{}",
                if max_label < 253 {
                    format!(", each at most {max_label} characters")
                } else {
                    String::new()
                }
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_every_name_from_the_instance() {
        let n = Names::new("orders-db").unwrap();
        assert_eq!(n.headless, "orders-db-headless");
        assert_eq!(n.secret, "orders-db-credentials");
        assert_eq!(n.pod(2), "orders-db-2");
    }

    #[test]
    fn longest_name_keeps_every_derived_name_a_label() {
        let n = Names::new(&"a".repeat(MAX_NAME)).unwrap();
        // Service names are DNS-1035 labels (≤ 63); ConfigMaps and Secrets are subdomains (≤ 253).
        for service in [&n.headless, &n.primary, &n.client] {
            assert!(service.len() <= 63, "{service}");
        }
        // controller-revision-hash label value: <name>-<up to 10 chars>
        const { assert!(MAX_NAME + 1 + 10 <= 63) };
    }

    #[test]
    fn rejects_bad_names_without_truncating() {
        for (bad, needle) in [
            ("MySQL", "not a valid DNS-1123 label"),
            ("my_sql", "not a valid DNS-1123 label"),
            ("-db", "not a valid DNS-1123 label"),
            ("db-", "not a valid DNS-1123 label"),
            ("", "is empty"),
            ("1db", "must start with a letter"),
        ] {
            let e = Names::new(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
        let e = Names::new(&"a".repeat(53)).unwrap_err().to_string();
        assert!(
            e.contains("53 characters long") && e.contains("at most 52"),
            "{e}"
        );
    }

    #[test]
    fn subdomains() {
        check_domain("--cluster-domain", "cluster.local").unwrap();
        check_domain("--cluster-domain", "k8s.example.com").unwrap();
        for bad in ["", "Cluster.local", "a..b", ".local", "a_b.c"] {
            assert!(check_domain("--cluster-domain", bad).is_err(), "{bad}");
            assert!(check_subdomain("--existing-secret", bad).is_err(), "{bad}");
        }
        // The API server limits an object name's length, not its parts'.
        let long = "a".repeat(64);
        check_subdomain("--existing-secret", &long).unwrap();
        let e = check_domain("--cluster-domain", &format!("{long}.local")).unwrap_err();
        assert!(e.to_string().contains("each at most 63 characters"), "{e}");
        assert!(check_subdomain("--existing-secret", &"a".repeat(254)).is_err());
    }
}
