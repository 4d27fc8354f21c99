//! Socket calls whose rustix forms read a `ucred` into `rustix::net::UCred`,
//! whose `pid` is a non-zero `Pid`: the kernel reports pid 0 for a peer in a
//! pid namespace we cannot see (and for unconnected sockets), which would be
//! an invalid value there. These read the raw `struct ucred` instead.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use rustix::io::{self, Errno};

use super::last_errno;

/// A raw `struct ucred`: pid (0 when not visible to us), uid, gid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawCred {
    pub(crate) pid: i32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// `getsockopt(fd, SOL_SOCKET, SO_PEERCRED)`.
pub(crate) fn peercred(fd: BorrowedFd<'_>) -> io::Result<RawCred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = core::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` is a valid, writable `ucred` and `len` holds its size;
    // the kernel writes at most `len` bytes into it.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(last_errno());
    }
    Ok(RawCred {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// What [`recvmsg_creds`] received.
#[derive(Debug)]
pub(crate) struct CredMsg {
    /// Bytes copied into the buffer.
    pub(crate) copied: usize,
    /// The datagram's real length (`MSG_TRUNC` was passed).
    pub(crate) len: usize,
    /// The sender's `SCM_CREDENTIALS`, if any arrived.
    pub(crate) cred: Option<RawCred>,
    /// Any descriptors that arrived too (owned, so they close on drop).
    pub(crate) fds: Vec<OwnedFd>,
}

/// Room for one `SCM_CREDENTIALS` and up to 253 (`SCM_MAX_FD`) descriptors,
/// so that a sender's descriptors cannot crowd out the credentials.
const CONTROL_LEN: usize = 64 + 253 * 4 + 64;

/// `recvmsg(fd, {buf}, MSG_CMSG_CLOEXEC | MSG_TRUNC | extra)` keeping the
/// `SCM_CREDENTIALS` message (and closing any descriptors that came along).
pub(crate) fn recvmsg_creds(fd: BorrowedFd<'_>, buf: &mut [u8], extra: i32) -> io::Result<CredMsg> {
    // u64 elements keep the control buffer aligned for `cmsghdr`.
    let mut control = [0u64; CONTROL_LEN / 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero `msghdr` is a valid value (null name, no iovecs).
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = core::mem::size_of_val(&control) as _;
    let flags = libc::MSG_CMSG_CLOEXEC | libc::MSG_TRUNC | extra;
    // SAFETY: `msg` points at `iov` (which covers exactly `buf`) and at
    // `control` with its true length; all three outlive the call.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, flags) };
    if n < 0 {
        return Err(last_errno());
    }
    let len = usize::try_from(n).map_err(|_| Errno::INVAL)?;
    let mut out = CredMsg {
        copied: len.min(buf.len()),
        len,
        cred: None,
        fds: Vec::new(),
    };
    // SAFETY: `msg` was filled in by a successful `recvmsg`; its control
    // pointer and (kernel-updated) length describe `control`.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR return either null or a pointer
        // to a whole `cmsghdr` inside `control`.
        let hdr = unsafe { &*cmsg };
        // SAFETY: as above; CMSG_DATA points just past the header.
        let data = unsafe { libc::CMSG_DATA(cmsg) };
        // SAFETY: CMSG_LEN(0) is a constant computation.
        let header_len = unsafe { libc::CMSG_LEN(0) } as usize;
        let payload = (hdr.cmsg_len as usize).saturating_sub(header_len);
        if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == libc::SCM_RIGHTS {
            for i in 0..payload / 4 {
                // SAFETY: the payload holds `payload / 4` ints inside `control`.
                let raw = unsafe { data.add(i * 4).cast::<i32>().read_unaligned() };
                if raw >= 0 {
                    // SAFETY: the kernel just installed `raw` in our table
                    // for us; nothing else owns it.
                    out.fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
                }
            }
        } else if hdr.cmsg_level == libc::SOL_SOCKET
            && hdr.cmsg_type == libc::SCM_CREDENTIALS
            && payload >= core::mem::size_of::<libc::ucred>()
        {
            // SAFETY: the payload holds a whole `ucred` inside `control`, and
            // every bit pattern is a valid `ucred`.
            let c = unsafe { data.cast::<libc::ucred>().read_unaligned() };
            out.cred = Some(RawCred {
                pid: c.pid,
                uid: c.uid,
                gid: c.gid,
            });
        }
        // SAFETY: `cmsg` is a header inside the buffer `msg` describes.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(out)
}
