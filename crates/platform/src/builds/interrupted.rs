//! Builds whose run was cut short: the Slipway running the pipeline stopped or died (a
//! `kill -9`, a restart, the machine) and the queue gave the job back. The next run cleans up
//! what the first left (its processes, its half-made database; the build's logs are kept and
//! say why) and builds again from the start, as Odoo.sh rebuilds: a build is a pure function
//! of its commit, so starting over is always right, and it spares a person the "rebuild"
//! click for a failure that was not theirs. A development or staging build cut short
//! [`RUNS_AT_MOST`] times fails instead (something may be killing Slipway during it), with a
//! reason that says so; a production build always goes on, since its pipeline is what rolls
//! an interrupted update back and brings production's server back.

use slipway_runner::odoo::kill_processes_with_arg;

use super::pipeline::Pipeline;
use super::store::Build;
use crate::stages::Stage;

/// How many runs a development or staging build gets before a cut-short run fails it.
pub(super) const RUNS_AT_MOST: i32 = 3;

/// What to do with a build whose previous run was cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Next {
    /// Build it again; the line for its `build.log`.
    Resume(String),
    /// Fail it with this reason.
    Fail(String),
}

/// The decision for a build of `stage` taken for its `run`-th time (the queue's attempt
/// count), its previous run cut short at `step`.
pub(super) fn decide(stage: Stage, run: i32, step: Option<&str>) -> Next {
    let during = step.map_or(String::new(), |s| format!(" during step {s}"));
    if stage != Stage::Production && run > RUNS_AT_MOST {
        return Next::Fail(format!(
            "interrupted by a restart of Slipway{during}, {} times; rebuild it once Slipway \
             runs steadily again",
            run - 1
        ));
    }
    Next::Resume(format!(
        "interrupted by a restart of Slipway{during}: its processes were stopped and its \
         half-made database dropped; building it again from the start (run {run})"
    ))
}

impl Pipeline {
    /// Cleans up after a run of `build` that was cut short at `step`, when it had `database`:
    /// its processes killed, its own database dropped. Returns the reason to fail it, if it
    /// should not be built again (see [`decide`]).
    pub(super) async fn clean_interrupted(
        &self,
        build: &Build,
        run: i32,
        step: Option<&str>,
        database: Option<&str>,
    ) -> Option<String> {
        // a process of the build names its odoo.conf: unconfined `odoo-bin -c <it>`, or the
        // `bwrap` that binds it into the sandbox
        let conf = self.env.build_dir(&build.name).join("odoo.conf");
        let killed = kill_processes_with_arg(&conf);
        self.supervisor.stop(build.id, None).await;
        // its own database only: a production update works on production's, which its
        // pipeline rolls back itself
        if database.is_none_or(|db| db == build.name) {
            if let Err(e) = self.env.target.drop_database(&build.name).await {
                tracing::warn!(error = %e, "could not drop the half-made build database");
            }
        }
        tracing::warn!(
            killed,
            ?step,
            run,
            "build cut short by a restart of Slipway"
        );
        match decide(build.stage, run, step) {
            Next::Resume(line) => {
                self.note(build, &line);
                None
            }
            Next::Fail(reason) => Some(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_cut_short_is_built_again_saying_why() {
        let Next::Resume(line) = decide(Stage::Development, 2, Some("install+tests")) else {
            panic!("not resumed");
        };
        assert!(
            line.starts_with("interrupted by a restart of Slipway during step install+tests"),
            "{line}"
        );
        assert!(line.contains("(run 2)"), "{line}");
        assert!(!line.contains("already exists") && !line.contains("choose"));
    }

    #[test]
    fn a_development_or_staging_build_cut_short_too_often_fails_without_blaming_anyone() {
        assert!(matches!(
            decide(Stage::Staging, RUNS_AT_MOST, None),
            Next::Resume(_)
        ));
        let Next::Fail(reason) = decide(Stage::Development, RUNS_AT_MOST + 1, Some("install"))
        else {
            panic!("not failed");
        };
        assert!(
            reason.starts_with("interrupted by a restart of Slipway during step install, 3 times"),
            "{reason}"
        );
    }

    #[test]
    fn a_production_build_always_goes_on_its_pipeline_rolls_an_update_back() {
        assert!(matches!(
            decide(Stage::Production, 10, Some("update")),
            Next::Resume(_)
        ));
    }
}
