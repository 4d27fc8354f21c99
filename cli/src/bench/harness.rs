//! The two processes of every measurement: the bench re-executes itself as
//! the peer (`kipc bench --peer server --mech M ...`, hidden flags), hands it
//! descriptors by inheritance, and pins the two to different CPUs.
//!
//! The parent (this process) is the client: it times everything. The peer is
//! an echo server and a counting sink (see [`protocol`](super::protocol)).
//!
//! A dead peer is noticed through a pidfd ([`kipc_host::liveness`]); the
//! peer dies with its parent (`PR_SET_PDEATHSIG`), so a crashed or killed
//! bench leaves no spinning orphan.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kipc_host::liveness::PeerWatch;
use rustix::io::FdFlags;
use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};

use super::mech::Mech;

/// Where the two processes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Parent pinned to the first CPU, peer to the second; with
    /// `--same-core`, both pinned to one CPU (`parent == peer`).
    Pinned {
        /// The timing (parent) process's CPU.
        parent: usize,
        /// The peer's CPU.
        peer: usize,
    },
    /// Fewer than two CPUs allowed: both float (and share one).
    Unpinned,
}

impl Placement {
    /// Picks two CPUs from this process's affinity mask and pins this
    /// process to the first. Falls back to [`Placement::Unpinned`] when
    /// fewer than two are allowed or pinning fails.
    pub fn choose_and_pin_self() -> Placement {
        let Ok(allowed) = sched_getaffinity(None) else {
            return Placement::Unpinned;
        };
        let cpus: Vec<usize> = (0..CpuSet::MAX_CPU)
            .filter(|&c| allowed.is_set(c))
            .take(2)
            .collect();
        let [parent, peer] = cpus[..] else {
            return Placement::Unpinned;
        };
        match pin_self(parent) {
            Ok(()) => Placement::Pinned { parent, peer },
            Err(_) => Placement::Unpinned,
        }
    }

    /// Pins this process and (later) the peer to one CPU, the first this
    /// process may use (CPU 0 on an unrestricted machine): `--same-core`.
    /// Falls back to [`Placement::Unpinned`] if pinning fails.
    pub fn same_core_and_pin_self() -> Placement {
        let Ok(allowed) = sched_getaffinity(None) else {
            return Placement::Unpinned;
        };
        let Some(cpu) = (0..CpuSet::MAX_CPU).find(|&c| allowed.is_set(c)) else {
            return Placement::Unpinned;
        };
        match pin_self(cpu) {
            Ok(()) => Placement::Pinned {
                parent: cpu,
                peer: cpu,
            },
            Err(_) => Placement::Unpinned,
        }
    }

    /// Whether both processes are pinned to one CPU, so that each runs only
    /// when the other waits or is preempted.
    pub fn shared_core(self) -> bool {
        matches!(self, Placement::Pinned { parent, peer } if parent == peer)
    }

    /// The peer's CPU, if pinned.
    pub fn peer_cpu(self) -> Option<usize> {
        match self {
            Placement::Pinned { peer, .. } => Some(peer),
            Placement::Unpinned => None,
        }
    }

    /// "pinned: bench on CPU 0, peer on CPU 1" or "unpinned".
    pub fn describe(self) -> String {
        match self {
            Placement::Pinned { parent, peer } if parent == peer => {
                format!("same core: timing process and peer process both pinned to CPU {parent}")
            }
            Placement::Pinned { parent, peer } => {
                format!("pinned: timing process on CPU {parent}, peer process on CPU {peer}")
            }
            Placement::Unpinned => {
                "unpinned (fewer than 2 CPUs allowed: both processes share the machine)".into()
            }
        }
    }
}

/// `sched_setaffinity(0, {cpu})`.
pub fn pin_self(cpu: usize) -> io::Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set)?;
    Ok(())
}

/// The other process of a measurement, as seen from either side.
#[derive(Debug)]
pub struct Peer {
    watch: PeerWatch,
    /// Spin iterations between `sched_yield`s when both sides may share a
    /// CPU (`u32::MAX`: never yield).
    pub yield_every: u32,
}

impl Peer {
    /// `own_core`: the two processes are pinned to different CPUs, so a
    /// spinning side never needs to give way to the other.
    fn new(pid: i32, own_core: bool) -> io::Result<Peer> {
        let watch = PeerWatch::new(pid)
            .map_err(|e| io::Error::other(format!("pidfd of peer {pid}: {e}")))?;
        let yield_every = if own_core { u32::MAX } else { 64 };
        Ok(Peer { watch, yield_every })
    }

    /// Whether the other process is still running (one `poll` on a pidfd).
    pub fn alive(&self) -> bool {
        self.watch.is_alive()
    }

    /// The other process's pid.
    pub fn pid(&self) -> i32 {
        self.watch.pid()
    }

    /// The error every channel returns once the peer is gone.
    pub fn dead_error(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::BrokenPipe,
            format!("peer process {} died", self.pid()),
        )
    }

    /// Waits until the peer exits, at most `timeout`; `true` if it did.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        self.watch.wait_exit(Some(timeout)).unwrap_or(false)
    }
}

/// A busy-wait loop's companion: a pause hint each turn, a yield when the
/// two sides may share a CPU, and a liveness check every 16 Ki turns.
#[derive(Debug)]
pub struct Spin<'a> {
    peer: &'a Peer,
    turns: u32,
}

impl<'a> Spin<'a> {
    /// A fresh wait.
    #[inline]
    pub fn new(peer: &'a Peer) -> Self {
        Spin { peer, turns: 0 }
    }

    /// One more turn of the wait.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` when the peer has died.
    #[inline]
    pub fn tick(&mut self) -> io::Result<()> {
        self.turns = self.turns.wrapping_add(1);
        if self.turns % 16_384 == 0 && !self.peer.alive() {
            return Err(self.peer.dead_error());
        }
        if self.turns % self.peer.yield_every == 0 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
        Ok(())
    }
}

/// Parent side of one mechanism run: spawns the peer once the mechanism has
/// made what the peer must inherit.
#[derive(Debug)]
pub struct ParentCtx {
    /// The mechanism.
    pub mech: Mech,
    /// Message size in bytes (already the mechanism's effective size).
    pub size: usize,
    placement: Placement,
    child: Option<Child>,
}

impl ParentCtx {
    /// A context that has not spawned anything yet.
    pub fn new(mech: Mech, size: usize, placement: Placement) -> Self {
        ParentCtx {
            mech,
            size,
            placement,
            child: None,
        }
    }

    /// Re-executes this binary as the peer, passing `fds` (which stay open
    /// in this process; the peer gets duplicates) and `extra` values.
    ///
    /// # Errors
    ///
    /// The descriptors cannot be duplicated, or the process cannot start.
    pub fn spawn(&mut self, fds: &[BorrowedFd<'_>], extra: &[String]) -> io::Result<Peer> {
        // Inheritable duplicates (dup never sets FD_CLOEXEC). This process
        // spawns nothing else meanwhile, so no other child can inherit them.
        let dups: Vec<OwnedFd> = fds.iter().map(rustix::io::dup).collect::<Result<_, _>>()?;
        let numbers: Vec<String> = dups.iter().map(|fd| raw(fd.as_fd()).to_string()).collect();
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(exe);
        cmd.args(["bench", "--peer", "server", "--mech", self.mech.name()])
            .args(["--size", &self.size.to_string()]);
        if let Some(cpu) = self.placement.peer_cpu() {
            cmd.args(["--peer-cpu", &cpu.to_string()]);
        }
        if self.placement.shared_core() {
            cmd.arg("--peer-shared");
        }
        if !numbers.is_empty() {
            cmd.args(["--peer-fds", &numbers.join(",")]);
        }
        for e in extra {
            cmd.arg(format!("--peer-arg={e}"));
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start the peer process: {e}")))?;
        drop(dups);
        let pid = child.id() as i32;
        self.child = Some(child);
        let own_core =
            matches!(self.placement, Placement::Pinned { .. }) && !self.placement.shared_core();
        Peer::new(pid, own_core)
    }

    /// Reaps the peer (killing it if it has not exited within 2 s) and
    /// returns the last line it printed to stderr, if any.
    pub fn finish(&mut self) -> Option<String> {
        let mut child = self.child.take()?;
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
        let mut text = String::new();
        if let Some(mut err) = child.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
    }
}

impl Drop for ParentCtx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Peer side of one mechanism run.
#[derive(Debug)]
pub struct ChildCtx {
    /// Inherited descriptors, in the order the parent passed them.
    pub fds: Vec<Option<OwnedFd>>,
    /// Mechanism-specific values.
    pub extra: Vec<String>,
    /// The parent.
    pub peer: Peer,
}

impl ChildCtx {
    /// Sets up the peer process: dies with its parent, pins itself, takes
    /// ownership of the inherited descriptors.
    ///
    /// # Errors
    ///
    /// A descriptor number that is not open, or no pidfd for the parent.
    pub fn init(
        cpu: Option<usize>,
        shared_core: bool,
        fds: &[i32],
        extra: Vec<String>,
    ) -> io::Result<Self> {
        let parent = rustix::process::getppid().map(|p| p.as_raw_nonzero().get());
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
        // If the parent died before the line above, we were reparented.
        let Some(parent) = parent
            .filter(|&p| Some(p) == rustix::process::getppid().map(|q| q.as_raw_nonzero().get()))
        else {
            return Err(io::Error::other("the bench process is gone"));
        };
        if let Some(cpu) = cpu {
            pin_self(cpu)?;
        }
        let mut owned = Vec::with_capacity(fds.len());
        for &n in fds {
            if n < 3 {
                return Err(io::Error::other(format!("bad inherited descriptor {n}")));
            }
            // SAFETY: the number is checked for being open by the fcntl below
            // before anything else uses it; our parent passed it on our command
            // line as a descriptor it made inheritable for us, so nothing else
            // in this freshly exec'd process owns it.
            #[allow(unsafe_code)]
            let fd = unsafe { OwnedFd::from_raw_fd(n) };
            rustix::io::fcntl_setfd(&fd, FdFlags::CLOEXEC)
                .map_err(|e| io::Error::other(format!("inherited descriptor {n}: {e}")))?;
            owned.push(Some(fd));
        }
        let own_core = cpu.is_some() && !shared_core;
        Ok(ChildCtx {
            fds: owned,
            extra,
            peer: Peer::new(parent, own_core)?,
        })
    }

    /// Takes inherited descriptor `i`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the parent passed fewer (or it was taken already).
    pub fn take_fd(&mut self, i: usize) -> io::Result<OwnedFd> {
        self.fds.get_mut(i).and_then(Option::take).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "missing inherited descriptor")
        })
    }

    /// Extra value `i`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the parent passed fewer.
    pub fn extra(&self, i: usize) -> io::Result<&str> {
        self.extra
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing peer argument"))
    }
}

/// A descriptor's number.
fn raw(fd: BorrowedFd<'_>) -> i32 {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}
