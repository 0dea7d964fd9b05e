//! The production upgrade (seed 000, "Production upgrade"): "Start upgrade" on the
//! production branch only arms it (`armed`); the next push to production runs it instead
//! of a normal update (`builds::production_upgrade`): the missing-modules check, then,
//! production unavailable throughout ([`Maintenance`]: the proxy answers its hosts with a
//! maintenance page), a `before-upgrade` backup, the engine on a dump of it, the upgraded
//! database swapped in, the custom modules updated with the pushed code on the target
//! series, the server on the target series, and a backup after success (`done`). Any
//! failure puts back the database, the revision and the series (`reverted`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The builds whose host answers with the maintenance page, and why (shared by the pipeline,
/// which starts and ends an upgrade, and the proxy, which reads it on every request: kept in
/// memory, since both run in `serve`).
#[derive(Debug, Clone, Default)]
pub struct Maintenance(Arc<RwLock<HashMap<String, String>>>);

impl Maintenance {
    /// `builds` answer with the maintenance page saying `why` until [`Self::end`].
    pub fn begin(&self, builds: &[&str], why: &str) {
        if let Ok(mut map) = self.0.write() {
            for build in builds {
                map.insert((*build).to_string(), why.to_string());
            }
        }
    }

    /// `builds` are served again.
    pub fn end(&self, builds: &[&str]) {
        if let Ok(mut map) = self.0.write() {
            for build in builds {
                map.remove(*build);
            }
        }
    }

    /// Why build `name` is under maintenance, if it is.
    pub fn of(&self, name: &str) -> Option<String> {
        self.0.read().ok()?.get(name).cloned()
    }
}

impl crate::Platform {
    /// Why build `name`'s host answers with the maintenance page (its production is being
    /// upgraded), if it does.
    pub fn under_maintenance(&self, name: &str) -> Option<String> {
        self.pipeline.maintenance.of(name)
    }
}

/// What the maintenance page of a production being upgraded says.
pub fn maintenance_reason(source: &str, target: &str) -> String {
    format!(
        "An upgrade of this database from Odoo {source} to Odoo {target} is under way; \
         it is unavailable until the upgrade ends. Please come back in a few minutes."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_covers_the_builds_named_until_it_ends() {
        let m = Maintenance::default();
        m.begin(&["p-1", "p-2"], "upgrading");
        assert_eq!(m.of("p-1").as_deref(), Some("upgrading"));
        assert_eq!(m.of("p-2").as_deref(), Some("upgrading"));
        assert_eq!(m.of("p-3"), None);
        m.end(&["p-1", "p-2"]);
        assert_eq!(m.of("p-1"), None);
    }

    #[test]
    fn the_page_says_an_upgrade_is_under_way_and_to_which_series() {
        let why = maintenance_reason("16.0", "17.0");
        assert!(why.contains("upgrade"), "{why}");
        assert!(why.contains("Odoo 17.0"), "{why}");
    }
}
