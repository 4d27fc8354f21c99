//! Shared-memory fixtures of the multi-process tests: unique names that are
//! unlinked on drop, rings a peer process can open (by name, or as a memfd
//! it inherits), and the descriptor inheritance that needs.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use kipc_host::ring::{RingConfig, ShmRing};

/// A kipc object name unique to this process and call, unlinked again when
/// dropped (rings and mailboxes share the name space).
#[derive(Debug)]
pub struct ShmName(pub String);

impl ShmName {
    /// `test-TAG-PID-N`.
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        ShmName(format!(
            "test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }
}

impl Drop for ShmName {
    fn drop(&mut self) {
        let _ = ShmRing::unlink(&self.0);
    }
}

/// Lets the process `cmd` starts inherit `fd` under the same number (clears
/// its close-on-exec flag in the child only).
pub fn inherit_fd(cmd: &mut Command, fd: BorrowedFd<'_>) {
    let raw = fd.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and only makes
    // one async-signal-safe fcntl call on a descriptor the parent keeps open
    // until the spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            let fd = BorrowedFd::borrow_raw(raw);
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
            Ok(())
        })
    };
}

/// A ring a peer process can open, and the TARGET argument it opens it
/// with: the name, or `fd:N` for a memfd ring it inherits (see
/// [`RingTarget::command`]).
#[derive(Debug)]
pub struct RingTarget {
    /// The ring.
    pub ring: ShmRing,
    /// What the peer is given to open it.
    pub arg: String,
    _name: Option<ShmName>,
}

impl RingTarget {
    /// Creates a ring with `config`, named (unlinked on drop) or as a memfd.
    ///
    /// # Panics
    ///
    /// If the ring cannot be created (a test fixture).
    pub fn new(config: RingConfig, named: bool) -> Self {
        if named {
            let name = ShmName::new("ring");
            let ring = ShmRing::create(&name.0, config).expect("create named ring");
            RingTarget {
                ring,
                arg: name.0.clone(),
                _name: Some(name),
            }
        } else {
            let ring = ShmRing::create_anonymous(config).expect("create memfd ring");
            let arg = format!("fd:{}", ring.fd().as_raw_fd());
            RingTarget {
                ring,
                arg,
                _name: None,
            }
        }
    }

    /// A command for `program` that inherits the ring's descriptor, so an
    /// `fd:N` target is valid in it.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        inherit_fd(&mut cmd, self.ring.fd());
        cmd
    }
}
