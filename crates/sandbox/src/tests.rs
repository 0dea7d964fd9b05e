use super::*;

fn host() -> HostLayout {
    HostLayout {
        root_symlinks: vec![("bin".into(), "usr/bin".into())],
        root_dirs: vec![],
        etc: vec!["hosts".into(), "ssl".into()],
    }
}

fn strings(args: &[OsString]) -> Vec<String> {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// The index of `needle` (a run of arguments) in `args`.
fn find(args: &[String], needle: &[&str]) -> Option<usize> {
    args.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn an_unprivileged_sandbox_runs_the_program_through_setpriv_with_bwrap_keeping_no_user_namespace() {
    let mut sandbox = Sandbox::new(
        Identity::Unprivileged {
            uid: 1500003,
            gid: 1500003,
        },
        Limits::default(),
        &host(),
    );
    sandbox.bind_ro("/srv/builds/b1/src", "/home/odoo/src/user");
    sandbox.setenv("ODOO_RC", "/etc/odoo/odoo.conf");
    let args = strings(&sandbox.arguments(
        OsStr::new("/venv/bin/python"),
        &["odoo-bin".into()],
        &[7, 8],
    ));
    for run in [
        &["--unshare-pid"][..],
        &["--die-with-parent"],
        &["--new-session"],
        &["--clearenv"],
        &["--proc", "/proc"],
        &["--perms", "1777", "--tmpfs", "/tmp"],
        &["--ro-bind", "/usr", "/usr"],
        &["--symlink", "usr/bin", "/bin"],
        &["--ro-bind", "/etc/hosts", "/etc/hosts"],
        &["--perms", "0444", "--ro-bind-data", "7", "/etc/passwd"],
        &["--perms", "0444", "--ro-bind-data", "8", "/etc/group"],
        &["--setenv", "ODOO_RC", "/etc/odoo/odoo.conf"],
        &["--setenv", "HOME", "/home/odoo"],
        &["--chdir", "/home/odoo"],
        &[
            "--",
            "/usr/bin/setpriv",
            "--reuid",
            "1500003",
            "--regid",
            "1500003",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
            "/venv/bin/python",
            "odoo-bin",
        ],
    ] {
        assert!(find(&args, run).is_some(), "{run:?} missing from {args:?}");
    }
    assert!(!args.contains(&"--unshare-user".to_string()), "{args:?}");
    assert!(
        !args.contains(&"--share-net".to_string()),
        "the network is kept by default"
    );
    assert!(!args.iter().any(|a| a.contains("shadow")), "{args:?}");
    // The home tmpfs comes before what is bound inside it, which gets its parent made.
    let home = find(&args, &["--tmpfs", "/home/odoo"]).unwrap();
    let src = find(&args, &["--perms", "0755", "--dir", "/home/odoo/src"]).unwrap();
    let user = find(
        &args,
        &["--ro-bind", "/srv/builds/b1/src", "/home/odoo/src/user"],
    )
    .unwrap();
    assert!(home < src && src < user, "{args:?}");
}

#[test]
fn without_root_bwrap_makes_a_user_namespace_and_drops_every_capability() {
    let sandbox = Sandbox::new(Identity::Own, Limits::default(), &host());
    let args = strings(&sandbox.arguments(OsStr::new("id"), &[], &[3, 4]));
    assert!(find(&args, &["--unshare-user", "--cap-drop", "ALL"]).is_some());
    assert!(!args.iter().any(|a| a == "/usr/bin/setpriv"), "{args:?}");
    assert_eq!(args[args.len() - 2..], ["--", "id"]);
}

#[test]
fn host_paths_are_translated_through_the_deepest_bind() {
    let mut sandbox = Sandbox::new(Identity::Own, Limits::default(), &host());
    sandbox.bind_ro("/data/builds/b1/src", "/home/odoo/src/user");
    sandbox.bind_rw("/data/builds/b1/src/x", "/elsewhere");
    assert_eq!(
        sandbox.inside(Path::new("/data/builds/b1/src/addons/m")),
        Some(PathBuf::from("/home/odoo/src/user/addons/m"))
    );
    assert_eq!(
        sandbox.inside(Path::new("/data/builds/b1/src/x/y")),
        Some(PathBuf::from("/elsewhere/y"))
    );
    assert_eq!(sandbox.inside(Path::new("/data/builds/b2/src")), None);
    assert_eq!(
        sandbox.inside(Path::new("/data/builds/b1/src")),
        Some(PathBuf::from("/home/odoo/src/user")),
        "a bound file keeps its name, without a trailing slash"
    );
    // A second bind at one destination replaces the first.
    sandbox.bind_rw("/other", "/home/odoo/src/user");
    let binds = sandbox
        .mounts
        .iter()
        .filter(|m| m.dest() == Path::new("/home/odoo/src/user"))
        .count();
    assert_eq!(binds, 1);
}

#[test]
fn uids_are_per_project_when_root() {
    let identity = Identity::for_project(1_500_000, 7);
    if running_as_root() {
        assert_eq!(
            identity,
            Identity::Unprivileged {
                uid: 1_500_007,
                gid: 1_500_007
            }
        );
    } else {
        assert_eq!(identity, Identity::Own);
    }
}

/// Runs `script` with the host's python3 inside a sandbox as uid 1500999 (root) and returns
/// its stdout.
async fn run_python(mut sandbox: Sandbox, script: &str) -> (bool, String, String) {
    let python = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.base_prefix)"])
        .output()
        .unwrap();
    let prefix = String::from_utf8(python.stdout).unwrap().trim().to_string();
    sandbox.bind_ro(&prefix, &prefix);
    let jail = Jail {
        bwrap: find_bwrap().unwrap(),
        sandbox,
    };
    let python = format!("{prefix}/bin/python3");
    let out = jail
        .command(&python, &["-c".into(), script.into()])
        .unwrap()
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_real_sandbox_has_no_privileges_and_sees_only_its_whitelist() {
    probe(Identity::for_uid(1_500_999)).await.unwrap();
    let sandbox = Sandbox::new(
        Identity::for_uid(1_500_999),
        Limits {
            processes: Some(64),
            address_space: Some(2 << 30),
            cpu_seconds: Some(60),
        },
        &HostLayout::read(),
    );
    let script = r#"
import os, resource
status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines())
print('nnp', status['NoNewPrivs'].strip())
print('capeff', status['CapEff'].strip())
print('uid', os.getuid(), os.getgid(), os.getgroups())
print('user', os.environ.get('USER'), os.environ.get('HOME'), os.getcwd())
print('passwd', open('/etc/passwd').read().strip())
print('nproc', resource.getrlimit(resource.RLIMIT_NPROC))
print('core', resource.getrlimit(resource.RLIMIT_CORE))
for p in ['/etc/shadow', '/etc/sudoers', '/etc/postgresql', '/etc/ssh', '/root/.bashrc', '/work']:
    print('exists', p, os.path.exists(p))
print('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
open('/tmp/x', 'w').write('1'); open(os.path.expanduser('~/y'), 'w').write('1')
print('wrote')
"#;
    let (ok, out, err) = run_python(sandbox, script).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("nnp 1\n"), "{out}");
    assert!(out.contains("capeff 0000000000000000\n"), "{out}");
    assert!(out.contains("user odoo /home/odoo /home/odoo\n"), "{out}");
    assert!(out.contains("passwd odoo:x:"), "{out}");
    assert!(out.contains("nproc (64, 64)"), "{out}");
    assert!(out.contains("core (0, 0)"), "{out}");
    assert!(!out.contains(" True"), "a host secret is visible: {out}");
    assert!(out.contains("wrote"), "{out}");
    if running_as_root() {
        assert!(out.contains("uid 1500999 1500999 []\n"), "{out}");
    }
    let pids: Vec<&str> = out.lines().filter(|l| l.starts_with("pids")).collect();
    assert_eq!(pids.len(), 1);
    assert!(
        pids[0].trim_start_matches("pids [").split(',').count() <= 3,
        "its own PID namespace: {}",
        pids[0]
    );
}
