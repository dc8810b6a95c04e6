//! `app.kubernetes.io/*` labels: a stable subset for selectors, the full set for metadata.

use std::collections::BTreeMap;

pub const NAME: &str = "app.kubernetes.io/name";
pub const INSTANCE: &str = "app.kubernetes.io/instance";
pub const COMPONENT: &str = "app.kubernetes.io/component";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const VERSION: &str = "app.kubernetes.io/version";
/// Set by the StatefulSet controller on every pod; selects exactly one pod.
pub const POD_NAME: &str = "statefulset.kubernetes.io/pod-name";

/// The component every database pod carries.
pub const COMPONENT_DATABASE: &str = "database";

#[derive(Debug, Clone)]
pub struct Labels<'a> {
    pub db: &'a str,
    pub instance: &'a str,
    pub version: &'a str,
    pub user: &'a BTreeMap<String, String>,
}

impl Labels<'_> {
    /// What selectors use: never changes over the life of the StatefulSet (selectors are immutable).
    pub fn selector(&self) -> BTreeMap<String, String> {
        [
            (NAME, self.db),
            (INSTANCE, self.instance),
            (COMPONENT, COMPONENT_DATABASE),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// The labels of the backup and restore Jobs' pods: the metadata with another component,
    /// so that no Service, PodDisruptionBudget or StatefulSet selects them.
    pub fn job(&self, component: &str) -> BTreeMap<String, String> {
        let mut m = self.metadata();
        m.insert(COMPONENT.to_owned(), component.to_owned());
        m
    }

    /// What every object carries: the user's labels, then ours (ours win).
    pub fn metadata(&self) -> BTreeMap<String, String> {
        let mut m = self.user.clone();
        m.extend(self.selector());
        m.insert(MANAGED_BY.to_owned(), "sts-gen".to_owned());
        m.insert(VERSION.to_owned(), self.version.to_owned());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_is_a_stable_subset_of_metadata() {
        let user = BTreeMap::from([
            ("team".to_owned(), "payments".to_owned()),
            (NAME.to_owned(), "spoofed".to_owned()),
        ]);
        let l = Labels {
            db: "mysql",
            instance: "orders",
            version: "8.4.7",
            user: &user,
        };
        let (sel, meta) = (l.selector(), l.metadata());
        for (k, v) in &sel {
            assert_eq!(meta.get(k), Some(v));
        }
        assert!(!sel.contains_key(VERSION) && !sel.contains_key("team"));
        assert_eq!(meta[NAME], "mysql");
        assert_eq!(meta["team"], "payments");
    }
}
