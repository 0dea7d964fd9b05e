//! Benchmark: `migrate plan` and `migrate run` over a generated tree of 300
//! modules x 5 version folders x 3 stages (4,500 trivial scripts), against the
//! naive way (one `python3` process per script); and `addons list` over Odoo
//! 17's addons (when `SLIPWAY_TEST_ODOO_SRC` points at a source tree) against
//! Python reading the same manifests with `ast.literal_eval`.
//!
//! `cargo bench -p slipway-runner --bench migrate`. The naive way is timed on
//! `SLIPWAY_BENCH_NAIVE` scripts (default 450, a tenth) and extrapolated
//! linearly, since each script costs the same process start; set it to 4500
//! to time them all.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use slipway_odoo::{
    build_graph, build_plan, scan_addons, FolderRules, GraphNode, PlanInput, Series, UpdateRequest,
};
use slipway_runner::{read_db_state, run_plan, RunOptions};
use slipway_testkit::TestDb;

const MODULES: usize = 300;
const VERSIONS: usize = 5;
const SCRIPT: &str = "def migrate(cr, version):\n    cr.execute('SELECT 1')\n";

fn generate(root: &Path) {
    for i in 0..MODULES {
        let dir = root.join(format!("bench_{i:03}"));
        let dep = if i % 10 == 0 {
            "base".to_string()
        } else {
            format!("bench_{:03}", i - 1)
        };
        std::fs::create_dir_all(&dir).unwrap();
        let manifest =
            format!("{{'name': 'Bench {i}', 'version': '1.{VERSIONS}', 'depends': ['{dep}']}}\n");
        std::fs::write(dir.join("__manifest__.py"), manifest).unwrap();
        for v in 1..=VERSIONS {
            let folder = dir.join(format!("migrations/1.{v}"));
            std::fs::create_dir_all(&folder).unwrap();
            for stage in ["pre", "post", "end"] {
                std::fs::write(folder.join(format!("{stage}-bench.py")), SCRIPT).unwrap();
            }
        }
    }
}

async fn registry(db: &TestDb) {
    let mut sql = String::from(
        "CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar UNIQUE, state varchar, latest_version varchar);
         CREATE TABLE ir_module_module_dependency (id serial PRIMARY KEY, module_id int, name varchar);
         INSERT INTO ir_module_module (name, state, latest_version) VALUES ('base', 'installed', '17.0.1.3');",
    );
    for i in 0..MODULES {
        let dep = if i % 10 == 0 {
            "base".to_string()
        } else {
            format!("bench_{:03}", i - 1)
        };
        sql.push_str(&format!(
            "INSERT INTO ir_module_module (name, state, latest_version) VALUES ('bench_{i:03}', 'installed', '17.0.1.0');
             INSERT INTO ir_module_module_dependency (module_id, name) SELECT currval('ir_module_module_id_seq'), '{dep}';"
        ));
    }
    sqlx::raw_sql(&sql).execute(db.pool()).await.unwrap();
}

fn naive(url: &str, steps: &[(PathBuf, String)]) -> Duration {
    let code = "import sys, importlib.util, psycopg2\n\
                c = psycopg2.connect(sys.argv[1])\n\
                s = importlib.util.spec_from_file_location('m', sys.argv[2])\n\
                m = importlib.util.module_from_spec(s); s.loader.exec_module(m)\n\
                m.migrate(c.cursor(), sys.argv[3]); c.commit()\n";
    let t = Instant::now();
    for (script, version) in steps {
        let st = Command::new("python3")
            .args(["-c", code, url])
            .arg(script)
            .arg(version)
            .status()
            .unwrap();
        assert!(st.success());
    }
    t.elapsed()
}

fn odoo_addons_list() {
    let Ok(src) = std::env::var("SLIPWAY_TEST_ODOO_SRC") else {
        println!("addons list: skipped (set SLIPWAY_TEST_ODOO_SRC to an Odoo 17 source tree)");
        return;
    };
    let src = PathBuf::from(src);
    let paths = [src.join("addons"), src.join("odoo/addons")];
    let series: Series = "17.0".parse().unwrap();
    let mut best = Duration::MAX;
    let mut count = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let scan = scan_addons(&paths, &series);
        let nodes: Vec<GraphNode> = scan
            .addons
            .values()
            .map(|a| GraphNode {
                name: a.name.clone(),
                depends: a.manifest.depends.clone(),
            })
            .collect();
        let graph = build_graph(&nodes);
        count = graph.order.len();
        best = best.min(t.elapsed());
    }
    let py = "import ast, glob, sys\n\
              n = 0\n\
              for p in sys.argv[1:]:\n\
              \x20   for f in glob.glob(p + '/*/__manifest__.py'):\n\
              \x20       ast.literal_eval(open(f).read()); n += 1\n";
    let t = Instant::now();
    let st = Command::new("python3")
        .args(["-c", py])
        .args(&paths)
        .status()
        .unwrap();
    assert!(st.success());
    let python = t.elapsed();
    println!(
        "addons list: {count} modules in graph order in {:.1} ms; python3 ast.literal_eval of the same manifests: {:.1} ms ({:.1}x)",
        ms(best),
        ms(python),
        python.as_secs_f64() / best.as_secs_f64()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = TestDb::new().await;
        registry(&db).await;
        let tree = tempfile::tempdir().unwrap();
        generate(tree.path());
        let series: Series = "17.0".parse().unwrap();

        let t = Instant::now();
        let state = read_db_state(db.url()).await.unwrap();
        let scan = scan_addons(&[tree.path().to_path_buf()], &series);
        let plan = build_plan(&PlanInput {
            addons: &scan,
            db: &state,
            request: &UpdateRequest::VersionBumps,
            series: &series,
            rules: FolderRules::V17,
            upgrade_paths: &[],
        });
        let plan_time = t.elapsed();
        assert_eq!(plan.steps.len(), MODULES * VERSIONS * 3);
        println!(
            "plan: {} modules, {} scripts in {:.1} ms",
            plan.modules.len(),
            plan.steps.len(),
            ms(plan_time)
        );

        let sample: usize = std::env::var("SLIPWAY_BENCH_NAIVE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(450);
        let sample = sample.clamp(1, plan.steps.len());
        let steps: Vec<(PathBuf, String)> = plan
            .steps
            .iter()
            .take(sample)
            .map(|s| (s.script.clone(), "17.0.1.0".to_string()))
            .collect();
        let naive_sample = naive(db.url(), &steps);
        let naive_total = naive_sample.as_secs_f64() * plan.steps.len() as f64 / sample as f64;
        println!(
            "naive (one python3 per script): {sample} scripts in {:.2} s -> {:.1} s for {}",
            naive_sample.as_secs_f64(),
            naive_total,
            plan.steps.len()
        );

        let t = Instant::now();
        let report = run_plan(&plan, db.url(), &RunOptions::default(), &mut |_| {})
            .await
            .unwrap();
        let run_time = t.elapsed();
        assert_eq!(report.scripts_run, plan.steps.len());
        println!(
            "run (one host, one transaction): {} scripts in {:.2} s",
            report.scripts_run,
            run_time.as_secs_f64()
        );
        println!(
            "ratio naive / (plan + run): {:.1}x (target >= 20x)",
            naive_total / (plan_time + run_time).as_secs_f64()
        );
        odoo_addons_list();
    });
}
