//! [`ChildGuard`]: a spawned peer process that is killed and reaped when the
//! guard drops, so a test that fails half-way (a panic while the peer still
//! runs) cannot leave a `produce-forever` peer behind, spinning and holding
//! the test runner's output pipe open.

use std::io;
use std::ops::{Deref, DerefMut};
use std::process::{Child, Command};

/// A child process killed (`SIGKILL`) and waited for on drop, unless handed
/// back with [`into_inner`](Self::into_inner). Derefs to the [`Child`].
#[derive(Debug)]
pub struct ChildGuard(Option<Child>);

impl ChildGuard {
    /// Spawns `cmd` under a guard.
    ///
    /// # Errors
    ///
    /// What [`Command::spawn`] returns.
    pub fn spawn(cmd: &mut Command) -> io::Result<Self> {
        cmd.spawn().map(Self::new)
    }

    /// Guards an already spawned child.
    pub fn new(child: Child) -> Self {
        Self(Some(child))
    }

    /// Hands the child back unguarded (for `wait_with_output`, which takes
    /// it by value).
    pub fn into_inner(mut self) -> Child {
        match self.0.take() {
            Some(c) => c,
            None => unreachable!("a ChildGuard holds its child until dropped"),
        }
    }
}

impl Deref for ChildGuard {
    type Target = Child;
    fn deref(&self) -> &Child {
        match &self.0 {
            Some(c) => c,
            None => unreachable!("a ChildGuard holds its child until dropped"),
        }
    }
}

impl DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        match &mut self.0 {
            Some(c) => c,
            None => unreachable!("a ChildGuard holds its child until dropped"),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            // Already exited (and maybe reaped): both calls are harmless.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_kills_and_reaps_the_child() {
        let g = ChildGuard::spawn(Command::new("sleep").arg("100")).unwrap();
        let pid = g.id() as i32;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _g = g;
            panic!("a test failing while its peer runs");
        }));
        assert!(r.is_err());
        // Reaped: the pid no longer names our child.
        let gone = rustix::process::waitpid(
            rustix::process::Pid::from_raw(pid),
            rustix::process::WaitOptions::NOHANG,
        );
        assert!(gone.is_err(), "{gone:?}");
    }

    #[test]
    fn into_inner_disarms_the_guard() {
        let g = ChildGuard::spawn(&mut Command::new("true")).unwrap();
        let out = g.into_inner().wait_with_output().unwrap();
        assert!(out.status.success());
    }
}
