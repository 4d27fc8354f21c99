//! `ShmRing` against hostile peers and bad input: a process scribbling over
//! the whole mapping while an honest process uses the ring, peers that try
//! to resize the segment, damaged or foreign segments under a kipc name, and
//! bad arguments to the constructors.
//!
//! The honest side must run in a debug build (overflow checks on), which is
//! what plain `cargo test` builds. Longer hostile runs (20 s per ring kind
//! instead of 1.5 s):
//!
//! ```text
//! KIPC_FULL=1 CARGO_TARGET_DIR=/work/target-stress \
//!     cargo test -p kipc-tests --test shm_hostile -- --nocapture
//! ```
//!
//! `KIPC_SEED=N` replays a scribbler's sequence of writes (the seed of each
//! run is printed).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use kipc_host::ring::{probe, RingConfig, ShmRing};
use kipc_host::Error;
use kipc_tests::ring_payload::{encode, MAX_LEN};
use kipc_tests::stress::{scaled, shm_entries, wait_timeout, Name, Rng};
use kipc_tests::ChildGuard;

const PEER: &str = env!("CARGO_BIN_EXE_kipc-stress-peer");

fn peer(args: &[&str]) -> Command {
    let mut cmd = Command::new(PEER);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Reads one line of a peer's stdout (blocking).
fn read_line(out: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    line.trim_end().to_string()
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

// ---------------------------------------------------------------------------
// 3. A hostile peer scribbling over the mapping.

/// One `op` line of the honest peer.
#[derive(Debug)]
struct OpLine {
    what: String,
    count: u64,
    ok: u64,
    max_us: u64,
    over: u64,
}

fn hostile_run(config: RingConfig, label: &str) {
    let millis: u64 = scaled(1_500, 20_000);
    let seed = std::env::var("KIPC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Rng::from_entropy().next_u64());
    let name = Name::new(&format!("hostile-{label}"));
    drop(ShmRing::create(&name.0, config).unwrap());

    let mut honest = ChildGuard::spawn(&mut peer(&[
        "honest",
        &name.0,
        &millis.to_string(),
        &seed.to_string(),
    ]))
    .unwrap();
    let mut honest_out = BufReader::new(honest.stdout.take().unwrap());
    let ready = read_line(&mut honest_out);
    assert!(
        ready.starts_with("ready"),
        "honest peer: {ready:?} {}",
        stderr_of(&mut honest)
    );
    if cfg!(debug_assertions) {
        assert_eq!(
            ready, "ready overflow-checks=on",
            "honest side must have overflow checks"
        );
    }
    let mut hostile = ChildGuard::spawn(&mut peer(&[
        "scribble",
        &name.0,
        &millis.to_string(),
        &seed.to_string(),
    ]))
    .unwrap();
    let mut hostile_out = BufReader::new(hostile.stdout.take().unwrap());
    assert_eq!(
        read_line(&mut hostile_out),
        "ready",
        "{}",
        stderr_of(&mut hostile)
    );

    // Read the report on a thread so a hang is caught by `wait_timeout`.
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        honest_out.read_to_string(&mut s).unwrap();
        s
    });
    let limit = Duration::from_millis(millis) + Duration::from_secs(60);
    let status = wait_timeout(&mut honest, limit);
    let hostile_status = wait_timeout(&mut hostile, limit);
    let report = reader.join().unwrap();
    let Some(status) = status else {
        panic!("{label}: honest peer hung (killed after {limit:?}); seed {seed}");
    };
    assert_eq!(
        status.signal(),
        None,
        "{label}: honest peer killed by a signal; seed {seed}\n{}",
        stderr_of(&mut honest)
    );
    assert!(
        status.success(),
        "{label}: honest peer failed ({status}); seed {seed}\n{}",
        stderr_of(&mut honest)
    );
    let hostile_status = hostile_status.expect("scribbler hung");
    assert!(
        hostile_status.success(),
        "scribbler: {}",
        stderr_of(&mut hostile)
    );
    let writes: u64 = read_line(&mut hostile_out)
        .strip_prefix("writes ")
        .and_then(|n| n.parse().ok())
        .expect("scribbler's write count");
    assert!(writes > 0, "the scribbler wrote nothing");

    let ops: Vec<OpLine> = report
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&"op")).then(|| OpLine {
                what: f[1].to_string(),
                count: f[2].parse().unwrap(),
                ok: f[3].parse().unwrap(),
                max_us: f[5].parse().unwrap(),
                over: f[6].parse().unwrap(),
            })
        })
        .collect();
    assert!(
        report.lines().any(|l| l == "done"),
        "{label}: incomplete report:\n{report}"
    );
    let total: u64 = ops.iter().map(|o| o.count).sum();
    assert!(
        total > 100,
        "{label}: only {total} operations ran:\n{report}"
    );
    for o in &ops {
        assert_eq!(
            o.over, 0,
            "{label}: {} exceeded its bound (timeout + 3 s slack) {} times, max {} us; seed {seed}",
            o.what, o.over, o.max_us
        );
    }
    eprintln!("{label}: seed {seed}, {writes} hostile writes, {total} honest operations");
    for o in &ops {
        eprintln!(
            "  {:<13} {:>7} calls, {:>7} ok, longest {:>8} us",
            o.what, o.count, o.ok, o.max_us
        );
    }
    for l in report
        .lines()
        .filter(|l| l.starts_with("err ") || l.starts_with("data "))
    {
        eprintln!("  {l}");
    }
}

/// An honest process (both sides of an SPSC ring, with timeouts) against a
/// process writing garbage over header, indices and slots: every call
/// returns (data or an error) within its bound, and the honest process
/// exits normally, not by a signal or a panic.
#[test]
fn hostile_scribbler_cannot_crash_or_hang_an_spsc_user() {
    hostile_run(RingConfig::spsc(16, MAX_LEN as u32), "spsc");
}

/// As above for an MPMC ring: two lanes owned by the honest process and one
/// consumer.
#[test]
fn hostile_scribbler_cannot_crash_or_hang_an_mpmc_user() {
    hostile_run(RingConfig::mpmc(2, 16, MAX_LEN as u32), "mpmc");
}

// ---------------------------------------------------------------------------
// 4. Peers that resize the segment.

/// A child holding the descriptor of a sealed memfd ring cannot shrink or
/// grow it, nor add seals (F_SEAL_SEAL): each attempt is EPERM, the size is
/// unchanged, and the ring then carries 1000 messages to that child.
#[test]
fn sealed_memfd_refuses_a_peers_truncate_and_keeps_working() {
    const COUNT: u64 = 1000;
    let ring = ShmRing::create_anonymous(RingConfig::spsc(64, MAX_LEN as u32)).unwrap();
    let raw = ring.fd().as_raw_fd();
    let mut cmd = peer(&["seals", &format!("fd:{raw}"), &COUNT.to_string()]);
    // SAFETY: the closure runs in the forked child before exec and makes one
    // async-signal-safe fcntl call on a descriptor that stays open.
    unsafe {
        cmd.pre_exec(move || {
            rustix::io::fcntl_setfd(BorrowedFd::borrow_raw(raw), rustix::io::FdFlags::empty())?;
            Ok(())
        })
    };
    let mut child = ChildGuard::spawn(&mut cmd).unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let eperm = format!("errno {}", rustix::io::Errno::PERM.raw_os_error());
    for what in ["shrink", "shrink-1", "grow", "fallocate-grow", "add-seal"] {
        assert_eq!(read_line(&mut out), format!("{what} {eperm}"), "{what}");
    }
    let size = read_line(&mut out);
    let f: Vec<&str> = size.split_whitespace().collect();
    assert_eq!(f.len(), 3, "{size:?}");
    assert_eq!(f[1], f[2], "the size changed");
    assert_eq!(
        f[1].parse::<usize>().unwrap(),
        RingConfig::spsc(64, MAX_LEN as u32).region_size().unwrap()
    );
    // Our own descriptor is refused too.
    assert_eq!(
        rustix::fs::ftruncate(ring.fd(), 0),
        Err(rustix::io::Errno::PERM)
    );

    let mut tx = ring.sender().unwrap();
    let mut buf = [0u8; MAX_LEN];
    for seq in 0..COUNT {
        let n = encode(4, seq, &mut buf);
        tx.send_timeout(&buf[..n], Duration::from_secs(30)).unwrap();
    }
    let status = wait_timeout(&mut child, Duration::from_secs(60)).expect("peer hung");
    let err = stderr_of(&mut child);
    assert!(status.success(), "peer failed: {err}");
    assert_eq!(read_line(&mut out), format!("done {COUNT}"));
}

/// A memfd without seals is refused by `from_fd` (a peer could shrink it).
#[test]
fn unsealed_memfd_is_refused() {
    let len = RingConfig::spsc(4, 64).region_size().unwrap();
    let fd = rustix::fs::memfd_create("kipc:unsealed", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    rustix::fs::ftruncate(&fd, len as u64).unwrap();
    assert!(matches!(ShmRing::from_fd(fd), Err(Error::NotSealed { .. })));
}

/// Named segments cannot be sealed. After a peer truncates one, a new
/// `ShmRing::open` checks the size and refuses it with an error.
#[test]
fn named_ring_truncated_by_a_peer_is_refused_at_open() {
    for config in [
        RingConfig::spsc(64, MAX_LEN as u32),
        RingConfig::mpmc(2, 64, MAX_LEN as u32),
    ] {
        let len = config.region_size().unwrap() as u64;
        for size in [0, 1, 15, 100, 384, 639, 640, 4096, len / 2, len - 1] {
            let name = Name::new("hostile-trunc");
            drop(ShmRing::create(&name.0, config).unwrap());
            let out = peer(&["truncate", &name.0, &size.to_string()])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(std::fs::metadata(name.path()).unwrap().len(), size);
            let r = ShmRing::open_timeout(&name.0, Duration::from_millis(20));
            let e = r.expect_err(&format!(
                "{config:?} truncated to {size} bytes was accepted"
            ));
            if size == 0 {
                assert_eq!(e, Error::NotReady);
            }
            assert!(!e.to_string().is_empty());
        }
    }
}

/// Documents the remaining risk of named segments (host/src/shm.rs, "Remaining
/// risk"): a process that has a named ring mapped and touches it after a peer
/// truncated the object dies of SIGBUS. kipc installs no SIGBUS handler; if
/// one is added, this test must change.
#[test]
fn process_touching_a_truncated_named_ring_dies_of_sigbus() {
    let name = Name::new("hostile-sigbus");
    drop(ShmRing::create(&name.0, RingConfig::spsc(64, MAX_LEN as u32)).unwrap());
    let mut holder = ChildGuard::spawn(peer(&["hold", &name.0]).stdin(Stdio::piped())).unwrap();
    let mut out = BufReader::new(holder.stdout.take().unwrap());
    assert_eq!(read_line(&mut out), "ready", "{}", stderr_of(&mut holder));
    let t = peer(&["truncate", &name.0, "0"]).output().unwrap();
    assert!(t.status.success());
    holder.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let status = wait_timeout(&mut holder, Duration::from_secs(30)).expect("holder hung");
    assert_eq!(
        status.signal(),
        Some(rustix::process::Signal::BUS.as_raw()),
        "expected SIGBUS, got {status}; stdout {:?}",
        read_line(&mut out)
    );
}

// ---------------------------------------------------------------------------
// 5. Bad input for the constructors and foreign segments.

fn assert_nothing_left(prefix: &str, before: &[String]) {
    assert_eq!(
        shm_entries(prefix),
        before,
        "a failed create left something in /dev/shm"
    );
}

/// Bad geometry: a clear error, from `create` and `create_anonymous`, and
/// no `/dev/shm` entry left behind.
#[test]
fn create_with_bad_geometry_fails_cleanly() {
    let prefix = format!("badgeo-{}", std::process::id());
    let before = shm_entries(&prefix);
    assert!(before.is_empty());
    let invalid = [
        RingConfig::spsc(0, 64),
        RingConfig::spsc(3, 64),
        RingConfig::spsc(1000, 64),
        RingConfig::spsc(u32::MAX, 64),
        RingConfig::spsc(8, 0),
        RingConfig::spsc(8, (1 << 30) + 1),
        RingConfig::spsc(8, u32::MAX),
        RingConfig::mpmc(0, 8, 64),
        RingConfig::mpmc(65, 8, 64),
        RingConfig::mpmc(u32::MAX, 8, 64),
        RingConfig::mpmc(2, 0, 64),
        RingConfig::mpmc(2, 6, 64),
        RingConfig::mpmc(2, 8, 0),
        RingConfig::mpmc(64, 1 << 31, u32::MAX),
    ];
    for config in invalid {
        let name = Name::new(&prefix);
        let e = ShmRing::create(&name.0, config).expect_err(&format!("{config:?} accepted"));
        assert!(
            matches!(e, Error::Core(kipc_core::Error::InvalidGeometry { .. })),
            "{config:?}: {e:?}"
        );
        assert!(!name.path().exists(), "{config:?} left {:?}", name.path());
        assert!(
            ShmRing::create_anonymous(config).is_err(),
            "{config:?} accepted (memfd)"
        );
    }
    // A geometry valid for the core but too large to back with memory: a
    // memfd has no size limit, so before `MAX_RING_BYTES` existed this 1 TiB
    // ring's `fallocate` ran the machine out of memory. Now it is refused
    // before anything is allocated.
    let huge = RingConfig::spsc(1 << 20, 1 << 20);
    let name = Name::new(&prefix);
    for result in [
        ShmRing::create(&name.0, huge),
        ShmRing::create_anonymous(huge),
    ] {
        let e = result.expect_err("1 TiB ring accepted");
        assert!(
            matches!(e, Error::Core(kipc_core::Error::InvalidGeometry { .. })),
            "{e:?}"
        );
    }
    assert!(!name.path().exists());
    assert_nothing_left(&prefix, &before);
}

/// Bad names: `InvalidName` from create, open and unlink; nothing created.
/// The longest valid name (200 bytes) works.
#[test]
fn bad_names_are_refused() {
    let prefix = format!("badname-{}", std::process::id());
    let before = shm_entries(&prefix);
    let long = format!("{prefix}-{}", "x".repeat(201));
    let bad = [
        String::new(),
        format!("{prefix}/sub"),
        format!("/{prefix}"),
        format!("{prefix}\0nul"),
        format!("{prefix} space"),
        format!("{prefix}\ttab"),
        format!("{prefix}\nline"),
        format!("{prefix}-\u{e9}"),
        format!("{prefix}-\u{7f}"),
        long,
    ];
    for name in &bad {
        let config = RingConfig::spsc(4, 64);
        assert!(
            matches!(
                ShmRing::create(name, config),
                Err(Error::InvalidName { .. })
            ),
            "create {name:?}"
        );
        assert!(
            matches!(ShmRing::open(name), Err(Error::InvalidName { .. })),
            "open {name:?}"
        );
        assert!(
            matches!(ShmRing::unlink(name), Err(Error::InvalidName { .. })),
            "unlink {name:?}"
        );
    }
    assert_nothing_left(&prefix, &before);
    let mut longest = format!("{prefix}-");
    while longest.len() < 200 {
        longest.push('y');
    }
    let guard = Name(longest.clone());
    let ring = ShmRing::create(&longest, RingConfig::spsc(4, 64)).unwrap();
    assert_eq!(ring.name(), Some(longest.as_str()));
    drop(ring);
    drop(guard);
    assert_nothing_left(&prefix, &before);
}

/// Writes `bytes` to a new `/dev/shm/kipc.NAME` with mode 0600.
fn plant(name: &Name, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(name.path())
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// Segments under a kipc name that are no ring (empty, random, all zeros, all
/// ones, of many sizes) are refused with an error by `open` and `probe`.
#[test]
fn open_of_garbage_segments_is_refused() {
    let mut rng = Rng::from_entropy();
    for size in [
        0usize, 1, 7, 15, 16, 63, 127, 128, 383, 639, 640, 641, 4095, 4096, 65536,
    ] {
        for fill in 0..3 {
            let bytes: Vec<u8> = (0..size)
                .map(|_| match fill {
                    0 => rng.next_u32() as u8,
                    1 => 0,
                    _ => 0xff,
                })
                .collect();
            let name = Name::new("hostile-garbage");
            plant(&name, &bytes);
            let e = ShmRing::open_timeout(&name.0, Duration::ZERO)
                .expect_err(&format!("{size} bytes of fill {fill} accepted"));
            assert!(!e.to_string().is_empty());
            if size == 0 {
                assert_eq!(e, Error::NotReady);
            }
            assert!(
                probe(&name.0).is_err(),
                "probe accepted {size} bytes of fill {fill}"
            );
        }
    }
}

/// A real ring's bytes with one 32-bit word of the first 1 KiB replaced by
/// each of several values: `open` returns an error or a ring, and a ring's
/// every call returns (no panic, no crash, no hang).
#[test]
fn open_of_a_ring_with_one_damaged_header_word_never_crashes() {
    let mut rng = Rng::from_entropy();
    let (mut opened, mut refused) = (0u32, 0u32);
    for config in [RingConfig::spsc(4, 64), RingConfig::mpmc(2, 4, 64)] {
        let name = Name::new("hostile-damage");
        {
            let ring = ShmRing::create(&name.0, config).unwrap();
            let mut tx = ring.sender().unwrap();
            tx.try_send(b"one").unwrap();
            tx.try_send(b"two").unwrap();
            let mut rx = ring.receiver().unwrap();
            let mut buf = [0u8; 64];
            rx.try_recv(&mut buf).unwrap();
        }
        let orig = std::fs::read(name.path()).unwrap();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(name.path())
            .unwrap();
        for off in (0..orig.len().min(1024)).step_by(4) {
            let was = u32::from_le_bytes(orig[off..off + 4].try_into().unwrap());
            let values = [
                0,
                1,
                2,
                3,
                u32::MAX,
                1 << 31,
                was.wrapping_add(1),
                was.wrapping_sub(1),
                was.wrapping_mul(2),
                rng.next_u32(),
            ];
            for v in values {
                use std::os::unix::fs::FileExt;
                file.write_all_at(&orig, 0).unwrap();
                file.write_all_at(&v.to_le_bytes(), off as u64).unwrap();
                let start = Instant::now();
                match ShmRing::open_timeout(&name.0, Duration::ZERO) {
                    Ok(ring) => {
                        opened += 1;
                        let _ = (ring.info(), ring.queued(), ring.is_stale());
                        let mut buf = [0u8; 64];
                        if let Ok(mut rx) = ring.receiver() {
                            let _ = rx.try_recv(&mut buf);
                            let _ = rx.recv_timeout(&mut buf, Duration::from_millis(1));
                        }
                        if let Ok(mut tx) = ring.sender() {
                            let _ = tx.try_send(b"three");
                            let _ = tx.send_timeout(b"four", Duration::from_millis(1));
                        }
                    }
                    Err(e) => {
                        refused += 1;
                        assert!(!e.to_string().is_empty());
                    }
                }
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "{config:?}: word at {off} = {v:#x} took {:?}",
                    start.elapsed()
                );
            }
        }
    }
    eprintln!("damaged headers: {opened} opened and used, {refused} refused");
    assert!(refused > 0 && opened > 0);
}

/// Permission and file-type checks of `open`: group- or world-writable
/// segments, a symlink, a directory and a missing name are refused; so is a
/// segment owned by another uid (checked when running as root).
#[test]
fn open_refuses_unsafe_modes_links_and_foreign_owners() {
    let config = RingConfig::spsc(4, 64);
    for mode in [0o666, 0o620, 0o602, 0o660, 0o622] {
        let name = Name::new("hostile-mode");
        drop(ShmRing::create(&name.0, config).unwrap());
        std::fs::set_permissions(name.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        assert_eq!(
            ShmRing::open(&name.0).map(|_| ()),
            Err(Error::BadMode {
                object: format!("shm segment {:?}", name.0),
                mode
            }),
            "mode {mode:o}"
        );
    }
    // Readable by others, writable only by us: fine.
    let name = Name::new("hostile-mode");
    drop(ShmRing::create(&name.0, config).unwrap());
    std::fs::set_permissions(name.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(ShmRing::open(&name.0).is_ok());

    let link = Name::new("hostile-link");
    std::os::unix::fs::symlink(name.path(), link.path()).unwrap();
    assert_eq!(
        ShmRing::open(&link.0).map(|_| ()).unwrap_err().errno(),
        Some(rustix::io::Errno::LOOP)
    );
    let dir = Name::new("hostile-dir");
    std::fs::create_dir(dir.path()).unwrap();
    assert!(ShmRing::open(&dir.0).is_err());
    let missing = Name::new("hostile-missing");
    assert_eq!(
        ShmRing::open(&missing.0).map(|_| ()).unwrap_err().errno(),
        Some(rustix::io::Errno::NOENT)
    );
    if rustix::process::geteuid().is_root() {
        let foreign = Name::new("hostile-owner");
        drop(ShmRing::create(&foreign.0, config).unwrap());
        std::os::unix::fs::chown(foreign.path(), Some(65534), Some(65534)).unwrap();
        assert!(matches!(
            ShmRing::open(&foreign.0),
            Err(Error::NotOwner { owner: 65534, .. })
        ));
    }
}
