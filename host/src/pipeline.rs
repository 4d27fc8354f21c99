//! Pipelines: a chain of commands with each one's stdout connected to the
//! next one's stdin, as the shell's `a | b | c`.
//!
//! The connecting pipes are [`pipe()`](crate::pipe::pipe)s (`O_CLOEXEC`);
//! each end is handed to exactly one child and the parent keeps none, so end
//! of file propagates down the chain as in a shell. The first command's stdin
//! and the last one's stdout are whatever [`Pipeline::stdin`] and
//! [`Pipeline::stdout`] say (inherited by default); stderr is inherited.
//!
//! [`RunningPipeline::wait`] returns every command's exit status, not only the
//! last one's (bash's `PIPESTATUS`). [`RunningPipeline::wait_timeout`] kills
//! the whole chain when time runs out, and dropping a [`RunningPipeline`]
//! kills and reaps every command still running, so none is left behind as a
//! zombie or an orphan. Only the spawned commands are killed (`SIGKILL`), not
//! processes they started themselves.
//!
//! Waiting uses a pidfd per child ([`PeerWatch`]), so a timeout costs no
//! polling loop.

use std::ffi::OsString;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration;

use rustix::fd::OwnedFd;

use crate::fifo::{deadline_after, remaining};
use crate::liveness::PeerWatch;
use crate::pipe::pipe;
use crate::{Error, Result};

/// A chain of commands to spawn. See the [module documentation](self).
#[derive(Debug, Default)]
pub struct Pipeline {
    cmds: Vec<Vec<OsString>>,
    stdin: Option<Stdio>,
    stdout: Option<Stdio>,
}

/// A spawned [`Pipeline`]: its children, first to last.
#[derive(Debug)]
pub struct RunningPipeline {
    children: Vec<Child>,
    /// The exit status of each child once reaped.
    statuses: Vec<Option<ExitStatus>>,
    /// The last command's stdout when [`Pipeline::stdout`] was `piped()`.
    stdout: Option<ChildStdout>,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a command: `argv[0]` is the program (looked up in `PATH`),
    /// the rest its arguments.
    pub fn cmd<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.cmds.push(argv.into_iter().map(Into::into).collect());
        self
    }

    /// The first command's stdin (default: inherited).
    pub fn stdin(mut self, stdin: impl Into<Stdio>) -> Self {
        self.stdin = Some(stdin.into());
        self
    }

    /// The last command's stdout (default: inherited). With
    /// [`Stdio::piped`], read it from [`RunningPipeline::take_stdout`].
    pub fn stdout(mut self, stdout: impl Into<Stdio>) -> Self {
        self.stdout = Some(stdout.into());
        self
    }

    /// `pipe2(O_CLOEXEC)` and `fork`/`exec` for each command — starts the
    /// chain.
    ///
    /// If a command cannot be started, the ones already running are killed
    /// and reaped before the error is returned.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for an empty pipeline or an empty command;
    /// [`Error::Sys`] from `pipe2` or from spawning a command (e.g. `ENOENT`
    /// for a program not found).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::process::Stdio;
    /// use kipc_host::pipeline::Pipeline;
    /// let mut running = Pipeline::new()
    ///     .cmd(["printf", "b\\na\\n"])
    ///     .cmd(["sort"])
    ///     .cmd(["head", "-n1"])
    ///     .stdout(Stdio::piped())
    ///     .spawn()?;
    /// let mut out = String::new();
    /// running.take_stdout().unwrap().read_to_string(&mut out)?;
    /// let statuses = running.wait()?;
    /// assert_eq!(out, "a\n");
    /// assert_eq!(statuses.len(), 3);
    /// assert!(statuses.iter().all(|s| s.success()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn(self) -> Result<RunningPipeline> {
        if self.cmds.is_empty() {
            return Err(Error::InvalidArgument {
                object: "pipeline".into(),
                reason: "has no commands",
            });
        }
        if self.cmds.iter().any(|c| c.is_empty()) {
            return Err(Error::InvalidArgument {
                object: "pipeline".into(),
                reason: "has an empty command",
            });
        }
        let n = self.cmds.len();
        let mut running = RunningPipeline {
            children: Vec::with_capacity(n),
            statuses: Vec::with_capacity(n),
            stdout: None,
        };
        let mut next_stdin: Option<Stdio> = self.stdin;
        let mut last_stdout = self.stdout;
        for (i, argv) in self.cmds.iter().enumerate() {
            let (program, args) = match argv.split_first() {
                Some(split) => split,
                None => continue, // checked above
            };
            let mut cmd = Command::new(program);
            cmd.args(args);
            if let Some(stdin) = next_stdin.take() {
                cmd.stdin(stdin);
            }
            if i + 1 < n {
                let (r, w) = pipe()?;
                cmd.stdout(Stdio::from(OwnedFd::from(w)));
                next_stdin = Some(Stdio::from(OwnedFd::from(r)));
            } else if let Some(out) = last_stdout.take() {
                cmd.stdout(out);
            }
            let child = cmd.spawn().map_err(|e| Error::Sys {
                call: "spawn",
                object: format!("pipeline command {:?}", program),
                errno: rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO),
            })?;
            // `cmd` (holding our copy of the pipe's write end) drops here, so
            // the next command sees end of file when this one exits.
            running.children.push(child);
            running.statuses.push(None);
        }
        running.stdout = running.children.last_mut().and_then(|c| c.stdout.take());
        Ok(running)
    }
}

impl RunningPipeline {
    /// The process ids of the commands, first to last.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// The last command's stdout, if the pipeline was built with
    /// `.stdout(Stdio::piped())` (once).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// `waitpid` on every command — waits for all of them to exit and
    /// returns their statuses, first to last.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] from `waitpid` (not expected).
    pub fn wait(&mut self) -> Result<Vec<ExitStatus>> {
        self.wait_deadline(None)
    }

    /// Waits up to `timeout` for every command to exit; if some are still
    /// running then, kills the whole chain (`SIGKILL`), reaps it and returns
    /// [`Error::Timeout`].
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] as above; [`Error::Sys`] from `waitpid`,
    /// `pidfd_open` or `poll`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use kipc_host::{pipeline::Pipeline, Error};
    /// let mut p = Pipeline::new().cmd(["sleep", "100"]).cmd(["cat"]).spawn()?;
    /// assert_eq!(p.wait_timeout(Duration::from_millis(50)).unwrap_err(), Error::Timeout);
    /// # Ok::<(), kipc_host::Error>(())
    /// ```
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Vec<ExitStatus>> {
        match self.wait_deadline(Some(timeout)) {
            Err(Error::Timeout) => {
                self.kill_and_reap();
                Err(Error::Timeout)
            }
            other => other,
        }
    }

    fn wait_deadline(&mut self, timeout: Option<Duration>) -> Result<Vec<ExitStatus>> {
        let deadline = deadline_after(timeout);
        for (child, status) in self.children.iter_mut().zip(self.statuses.iter_mut()) {
            if status.is_some() {
                continue;
            }
            if deadline.is_some() {
                // The child is not reaped yet, so its pid cannot be reused.
                let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
                let watch = PeerWatch::new(pid)?;
                if !watch.wait_exit(remaining(deadline))? {
                    return Err(Error::Timeout);
                }
            }
            let st = child.wait().map_err(|e| Error::Sys {
                call: "waitpid",
                object: format!("pipeline command pid {}", child.id()),
                errno: rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO),
            })?;
            *status = Some(st);
        }
        Ok(self.statuses.iter().flatten().copied().collect())
    }

    /// `kill(SIGKILL)` and `waitpid` on every command not reaped yet.
    pub fn kill(&mut self) {
        self.kill_and_reap();
    }

    fn kill_and_reap(&mut self) {
        for (child, status) in self.children.iter_mut().zip(self.statuses.iter_mut()) {
            if status.is_none() {
                // Fails only if it already exited (still unreaped): fine.
                let _ = child.kill();
                *status = child.wait().ok();
            }
        }
    }
}

impl Drop for RunningPipeline {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Instant;

    #[test]
    fn printf_sort_wc_counts_two_lines_and_reports_every_status() {
        let mut p = Pipeline::new()
            .cmd(["printf", "b\\na\\n"])
            .cmd(["sort"])
            .cmd(["wc", "-l"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = String::new();
        p.take_stdout().unwrap().read_to_string(&mut out).unwrap();
        assert_eq!(out.trim(), "2");
        let st = p.wait().unwrap();
        assert_eq!(st.len(), 3);
        assert!(st.iter().all(ExitStatus::success), "{st:?}");
    }

    #[test]
    fn every_status_is_reported_not_only_the_last() {
        let mut p = Pipeline::new()
            .cmd(["sh", "-c", "exit 7"])
            .cmd(["cat"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let st = p.wait().unwrap();
        assert_eq!(st[0].code(), Some(7));
        assert_eq!(st[1].code(), Some(0));
    }

    #[test]
    fn timeout_kills_sleep_100_and_reaps_it() {
        let mut p = Pipeline::new()
            .cmd(["sleep", "100"])
            .cmd(["cat"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let pids = p.pids();
        let t = Instant::now();
        assert_eq!(
            p.wait_timeout(Duration::from_millis(100)).unwrap_err(),
            Error::Timeout
        );
        assert!(t.elapsed() < Duration::from_secs(10));
        for pid in pids {
            // Reaped: the pid is gone (barring instant reuse).
            assert!(!crate::liveness::pid_alive(pid as i32), "pid {pid} left");
        }
    }

    #[test]
    fn drop_kills_and_reaps_everything() {
        let p = Pipeline::new()
            .cmd(["sleep", "100"])
            .cmd(["sleep", "100"])
            .spawn()
            .unwrap();
        let pids = p.pids();
        drop(p);
        for pid in pids {
            assert!(!crate::liveness::pid_alive(pid as i32), "pid {pid} left");
        }
    }

    #[test]
    fn a_missing_program_fails_and_kills_the_started_ones() {
        let e = Pipeline::new()
            .cmd(["sleep", "100"])
            .cmd(["/nonexistent/kipc-no-such-program"])
            .spawn()
            .unwrap_err();
        assert_eq!(e.errno(), Some(rustix::io::Errno::NOENT));
        assert!(matches!(
            Pipeline::new().spawn(),
            Err(Error::InvalidArgument { .. })
        ));
        let empty: [&str; 0] = [];
        assert!(matches!(
            Pipeline::new().cmd(empty).spawn(),
            Err(Error::InvalidArgument { .. })
        ));
    }
}
