//! Stage rules (pure): which moves between development, staging and production are allowed,
//! as on Odoo.sh.

use serde::{Deserialize, Serialize};

/// A branch's stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Fresh database with demo data and tests at every push.
    Development,
    /// A neutralized copy of production at the branch's revision.
    Staging,
    /// The company's database.
    Production,
}

impl Stage {
    /// The stage's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Development => "development",
            Stage::Staging => "staging",
            Stage::Production => "production",
        }
    }

    /// The stage named `s`.
    pub fn parse(s: &str) -> Option<Stage> {
        match s {
            "development" | "dev" => Some(Stage::Development),
            "staging" => Some(Stage::Staging),
            "production" | "prod" => Some(Stage::Production),
            _ => None,
        }
    }
}

crate::text_column::text_column!(Stage, "stage");

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a stage move is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveRefused {
    /// Moving onto the same stage.
    #[error("the branch is already in {0}")]
    Same(Stage),
    /// Production can only go back to development.
    #[error("a production branch can only move to development")]
    ProductionOnlyToDevelopment,
    /// A second production branch.
    #[error("the project has a production branch already; move it to development first")]
    ProductionExists,
    /// Promotion to production must be confirmed.
    #[error("making a branch production must be confirmed (it will hold the company's database): pass confirm")]
    Unconfirmed,
}

/// Whether a branch may move from `from` to `to`, given whether the project already has a
/// production branch and whether the user confirmed a promotion.
pub fn check_move(
    from: Stage,
    to: Stage,
    production_exists: bool,
    confirmed: bool,
) -> Result<(), MoveRefused> {
    use Stage::*;
    match (from, to) {
        (a, b) if a == b => Err(MoveRefused::Same(a)),
        (Production, Development) => Ok(()),
        (Production, _) => Err(MoveRefused::ProductionOnlyToDevelopment),
        (_, Production) if production_exists => Err(MoveRefused::ProductionExists),
        (_, Production) if !confirmed => Err(MoveRefused::Unconfirmed),
        (_, Production) => Ok(()),
        (Development, Staging) | (Staging, Development) => Ok(()),
        _ => unreachable!("every pair of stages is matched above"),
    }
}

#[cfg(test)]
mod tests {
    use super::Stage::*;
    use super::*;

    #[test]
    fn development_and_staging_move_freely() {
        assert_eq!(check_move(Development, Staging, true, false), Ok(()));
        assert_eq!(check_move(Staging, Development, true, false), Ok(()));
    }

    #[test]
    fn production_only_goes_back_to_development() {
        assert_eq!(check_move(Production, Development, true, false), Ok(()));
        assert_eq!(
            check_move(Production, Staging, true, true),
            Err(MoveRefused::ProductionOnlyToDevelopment)
        );
    }

    #[test]
    fn promotion_needs_confirmation_and_no_other_production() {
        assert_eq!(
            check_move(Staging, Production, false, false),
            Err(MoveRefused::Unconfirmed)
        );
        assert_eq!(
            check_move(Development, Production, true, true),
            Err(MoveRefused::ProductionExists)
        );
        assert_eq!(check_move(Development, Production, false, true), Ok(()));
        assert_eq!(check_move(Staging, Production, false, true), Ok(()));
    }

    #[test]
    fn a_move_onto_the_same_stage_is_refused() {
        for s in [Development, Staging, Production] {
            assert_eq!(check_move(s, s, true, true), Err(MoveRefused::Same(s)));
        }
    }

    #[test]
    fn stage_names_round_trip() {
        for s in [Development, Staging, Production] {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
        }
        assert_eq!(Stage::parse("qa"), None);
    }
}
