//! Times `Repo::export` of a revision of any Git directory, against `git archive | tar -x`.
//!
//! `cargo run --release -p slipway-git --example export_timing -- <git-dir> <rev> <dest-parent>`

use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, git_dir, rev, parent] = args.as_slice() else {
        return Err("usage: export_timing <git-dir> <rev> <dest-parent>".into());
    };
    let repo = slipway_git::Repo {
        path: git_dir.into(),
    };
    let dest = std::path::Path::new(parent).join("slipway-export");
    let _ = std::fs::remove_dir_all(&dest);
    let started = Instant::now();
    repo.export(rev, &dest).await?;
    let ours = started.elapsed();

    let reference = std::path::Path::new(parent).join("tar-export");
    let _ = std::fs::remove_dir_all(&reference);
    std::fs::create_dir_all(&reference)?;
    let started = Instant::now();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "git --git-dir '{git_dir}' archive --format=tar '{rev}' | tar -x -C '{}'",
            reference.display()
        ))
        .status()?;
    let tar = started.elapsed();
    let files = walk(&dest);
    println!("{files} entries: Repo::export {ours:?}, git archive | tar -x {tar:?} ({status})");
    Ok(())
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    1 + if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        walk(&e.path())
                    } else {
                        0
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
