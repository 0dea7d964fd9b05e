//! Running a PostgreSQL client tool (pg_dump, pg_restore, pg_basebackup) whose output is
//! streamed somewhere as it is written.
//!
//! The tool's stderr is read on a thread of its own while the caller reads stdout: a tool that
//! fills its stderr pipe while nobody reads it blocks forever, and its stderr is what says why
//! it failed.

use std::io::Read;
use std::process::{ChildStdout, Command, ExitStatus, Stdio};

/// How a streamed tool run ended.
#[derive(Debug)]
pub struct StreamedRun<T, E> {
    /// What the stdout reader returned. When it failed, the tool was killed before being
    /// waited for, so its `status` says so and need not be read.
    pub read: Result<T, E>,
    /// The tool's exit status.
    pub status: ExitStatus,
    /// Everything the tool wrote on stderr.
    pub stderr: String,
}

/// Runs `command` (stdin closed) with its stdout handed to `read` while its stderr is
/// collected on a thread, then waits for it. Blocking: call it off the async runtime.
///
/// The error is starting or waiting for the tool; what `read` returned and how the tool
/// exited are in the answer, for the caller to judge in its own words.
pub fn stream_stdout<T, E>(
    command: &mut Command,
    read: impl FnOnce(ChildStdout) -> Result<T, E>,
) -> std::io::Result<StreamedRun<T, E>> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    });
    let read = match child.stdout.take() {
        Some(stdout) => read(stdout),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("the tool's stdout was not piped"));
        }
    };
    if read.is_err() {
        // the tool would otherwise block on a full pipe nobody reads any more
        let _ = child.kill();
    }
    let status = child.wait()?;
    let stderr = errors.join().unwrap_or_default();
    Ok(StreamedRun {
        read,
        status,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_is_read_and_stderr_kept() {
        let run = stream_stdout(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            |mut out| {
                let mut text = String::new();
                out.read_to_string(&mut text).map(|_| text)
            },
        )
        .unwrap();
        assert_eq!(run.read.unwrap(), "out\n");
        assert_eq!(run.stderr, "err\n");
        assert_eq!(run.status.code(), Some(3));
    }

    #[test]
    fn a_failed_reader_kills_the_tool() {
        let run = stream_stdout(Command::new("sh").args(["-c", "yes"]), |_out| {
            Err::<(), _>("stop")
        })
        .unwrap();
        assert_eq!(run.read, Err("stop"));
        assert!(!run.status.success());
    }

    #[test]
    fn a_missing_program_is_an_error() {
        let run = stream_stdout(&mut Command::new("/nonexistent/pg_dump"), |_| {
            Ok::<_, ()>(())
        });
        assert!(run.is_err());
    }
}
