//! Virtualenvs made for real with python3 -m venv and pip.

use std::path::PathBuf;

use slipway_runner::venv::Venvs;

fn reqs(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn equal_requirements_reuse_one_venv_and_others_get_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    let venvs = Venvs::new(tmp.path().join("venvs"), "python3".into());
    let log = tmp.path().join("pip.log");
    let odoo = reqs(tmp.path(), "odoo.txt", "# the Odoo tree's requirements\n");
    let branch = reqs(tmp.path(), "branch.txt", "# nothing either\n");

    // two builds racing for the same key: one makes it, the other waits and reuses it
    let only_odoo = [odoo.clone()];
    let (a, b) = tokio::join!(
        venvs.ensure(&only_odoo, &log),
        venvs.ensure(&only_odoo, &log)
    );
    let pip_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let (a, b) = (
        a.unwrap_or_else(|e| panic!("{e}\n{}", pip_log())),
        b.unwrap_or_else(|e| panic!("{e}\n{}", pip_log())),
    );
    assert_eq!(a.dir, b.dir);
    assert!(a.reused != b.reused, "exactly one of them made it");
    assert!(a.python.is_file());
    let out = std::process::Command::new(&a.python)
        .args(["-c", "import psycopg2, sys; print(sys.prefix)"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "system site-packages visible: {out:?}"
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .trim()
        .ends_with(a.dir.file_name().unwrap().to_str().unwrap()));

    let again = venvs
        .ensure(std::slice::from_ref(&odoo), &log)
        .await
        .unwrap();
    assert!(again.reused);
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("reusing virtualenv"));

    let other = venvs
        .ensure(&[odoo.clone(), branch.clone()], &log)
        .await
        .unwrap();
    assert!(!other.reused);
    assert_ne!(other.key, again.key);
    assert_ne!(other.dir, again.dir);

    assert_eq!(
        venvs
            .remove_unused(std::slice::from_ref(&other.key))
            .unwrap(),
        1
    );
    assert!(!again.dir.exists());
    assert!(other.dir.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pip_failure_names_the_file_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("venvs");
    let venvs = Venvs::new(root.clone(), "python3".into());
    let log = tmp.path().join("pip.log");
    let bad = reqs(
        tmp.path(),
        "requirements.txt",
        "slipway-no-such-package-xyz==1.0\n",
    );
    let err = venvs.ensure(&[bad], &log).await.unwrap_err().to_string();
    assert!(err.contains("requirements.txt"), "{err}");
    assert!(err.contains("pip.log"), "{err}");
    let pip_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        pip_log.contains("slipway-no-such-package-xyz"),
        "pip's reason is in pip.log: {pip_log}"
    );
    let left: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    assert!(left.is_empty(), "half-made venv left: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn equal_requirements_of_two_scopes_never_share_a_venv() {
    let tmp = tempfile::tempdir().unwrap();
    let venvs = Venvs::new(tmp.path().join("venvs"), "python3".into());
    let log = tmp.path().join("pip.log");
    // A local path in a requirement installs whoever's code builds first: the same text in
    // two projects (or a development branch and production) must make two venvs.
    let same = [reqs(tmp.path(), "r.txt", "# the same text\n")];
    let mine = venvs.ensure_in("p1-production", &same, &log).await.unwrap();
    let theirs = venvs
        .ensure_in("p2-development", &same, &log)
        .await
        .unwrap();
    assert_ne!(mine.dir, theirs.dir);
    assert!(!theirs.reused);
    let again = venvs.ensure_in("p1-production", &same, &log).await.unwrap();
    assert_eq!(again.dir, mine.dir);
    assert!(again.reused);
    let refused = venvs.ensure_in("../p1", &same, &log).await.unwrap_err();
    assert!(refused.to_string().contains("scope"), "{refused}");
}

/// pip runs in the sandbox as the sandbox's uid, one run per requirement file, and the
/// virtualenv goes back to Slipway after each: the next run must get it again, or pip quietly
/// installs into the user site of the sandbox's throwaway home and the package is gone (the
/// engine's `openupgradelib` after Odoo's requirements; a branch's requirements after Odoo's).
#[tokio::test(flavor = "multi_thread")]
async fn a_sandboxed_pip_installs_every_requirement_file_into_the_venv() {
    use slipway_sandbox::{find_bwrap, HostLayout, Identity, Jail, Limits, Sandbox};
    let wheels = slipway_testkit::EngineFixture::new();
    wheels.set_pip_env();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let jail = Jail {
        bwrap: find_bwrap().expect("bubblewrap (dev/setup installs it)"),
        sandbox: Sandbox::new(
            Identity::for_uid(1_500_000),
            Limits::default(),
            &HostLayout::read(),
        ),
    };
    let venvs = Venvs::new(tmp.path().join("venvs"), "python3".into()).sandboxed(jail);
    let log = tmp.path().join("pip.log");
    // pip is already in the virtualenv: the first run installs nothing, offline.
    let odoo = reqs(tmp.path(), "odoo.txt", "pip\n");
    let engine = reqs(tmp.path(), "engine.txt", "openupgradelib\n");
    let venv = venvs
        .ensure(&[odoo, engine], &log)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(&log).unwrap()));
    let out = std::process::Command::new(&venv.python)
        .args([
            "-c",
            "import openupgradelib; print(openupgradelib.__file__)",
        ])
        .output()
        .unwrap();
    let pip_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        out.status.success(),
        "the second file's package is not in the virtualenv: {}\n{pip_log}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(path.starts_with(venv.dir.to_str().unwrap()), "{path}");
    assert!(
        !pip_log.contains("Defaulting to user installation"),
        "{pip_log}"
    );
}
