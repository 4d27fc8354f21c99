//! [`FramedStream`]: whole messages over a byte stream.
//!
//! Each frame is a 4-byte little-endian length followed by that many payload
//! bytes:
//!
//! | offset | size | field                          |
//! |--------|------|--------------------------------|
//! | 0      | 4    | `len`, u32 little-endian       |
//! | 4      | len  | payload                        |
//!
//! The length comes from the peer, so it is checked against a maximum before
//! anything is allocated. After a bad length, a peer that closed mid-frame,
//! or an error in the middle of a frame, the stream's position within the
//! framing is unknown: the `FramedStream` is *poisoned* and every later call
//! fails with [`Error::Poisoned`]. An error before the first byte of a
//! frame (a read timeout, `EAGAIN`) leaves it usable.
//!
//! (The `kipc sock` command speaks newline-delimited text on streams instead,
//! so that socat and shell tools can talk to it; this is the library's
//! binary-safe framing.)

use std::io::{ErrorKind, Read, Write};

use crate::{Error, Result};

/// The default maximum frame payload: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

const HEADER: usize = 4;

/// Length-prefixed frames (u32 little-endian length + payload) over any
/// `Read + Write` stream, typically a [`StreamSocket`](super::StreamSocket).
///
/// # Examples
///
/// ```
/// use kipc_host::socket::{FramedStream, StreamSocket};
/// let (a, b) = StreamSocket::pair()?;
/// let (mut a, mut b) = (FramedStream::new(a), FramedStream::new(b));
/// a.send_frame(b"hello")?;
/// a.send_frame(b"")?;
/// assert_eq!(b.recv_frame()?.as_deref(), Some(&b"hello"[..]));
/// assert_eq!(b.recv_frame()?.as_deref(), Some(&b""[..]));
/// drop(a);
/// assert_eq!(b.recv_frame()?, None); // clean end of file between frames
/// # Ok::<(), kipc_host::Error>(())
/// ```
#[derive(Debug)]
pub struct FramedStream<S> {
    inner: S,
    max: usize,
    poisoned: bool,
}

impl<S> FramedStream<S> {
    /// Frames over `inner`, with payloads of at most [`DEFAULT_MAX_FRAME`].
    pub fn new(inner: S) -> Self {
        Self::with_max_frame(inner, DEFAULT_MAX_FRAME)
    }

    /// Frames over `inner`, with payloads of at most `max` bytes (capped at
    /// `u32::MAX`).
    pub fn with_max_frame(inner: S, max: usize) -> Self {
        Self {
            inner,
            max: max.min(u32::MAX as usize),
            poisoned: false,
        }
    }

    /// The largest payload accepted, in bytes.
    pub fn max_frame(&self) -> usize {
        self.max
    }

    /// Whether an earlier framing error has made the stream unusable.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The underlying stream, mutably (reading or writing it directly breaks
    /// the framing).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Gives back the underlying stream.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Write> FramedStream<S> {
    /// Writes one frame: the length header and `payload`, as one write where
    /// the stream allows.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidFrame`] if `payload` exceeds the maximum
    /// (nothing is sent; the stream stays usable); [`Error::Poisoned`];
    /// the stream's write error (which poisons it).
    pub fn send_frame(&mut self, payload: &[u8]) -> Result<()> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        if payload.len() > self.max {
            return Err(Error::InvalidFrame {
                len: payload.len() as u64,
                max: self.max,
            });
        }
        let len = u32::try_from(payload.len()).map_err(|_| Error::InvalidFrame {
            len: payload.len() as u64,
            max: self.max,
        })?;
        let mut frame = Vec::with_capacity(HEADER + payload.len());
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(payload);
        if let Err(e) = self.inner.write_all(&frame) {
            self.poisoned = true;
            return Err(e.into());
        }
        Ok(())
    }
}

impl<S: Read> FramedStream<S> {
    /// Reads one frame: `Ok(Some(payload))`, or `Ok(None)` at a clean end of
    /// file between frames.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidFrame`] for a length above the maximum,
    /// [`Error::FrameTruncated`] if the peer closed mid-frame (both poison
    /// the stream); [`Error::Timeout`] if a read timeout or `EAGAIN`
    /// hits before the frame's first byte (the stream stays usable; after it,
    /// it is poisoned); [`Error::Poisoned`]; other read errors.
    pub fn recv_frame(&mut self) -> Result<Option<Vec<u8>>> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        let r = self.recv_inner();
        if let Err((e, started)) = &r {
            if *started || !matches!(e, Error::Timeout) {
                self.poisoned = true;
            }
        }
        r.map_err(|(e, _)| e)
    }

    /// The frame, or the error and whether any byte of the frame was read.
    fn recv_inner(&mut self) -> core::result::Result<Option<Vec<u8>>, (Error, bool)> {
        let mut header = [0u8; HEADER];
        let got = self.fill(&mut header).map_err(|(e, n)| (e, n > 0))?;
        if got == 0 {
            return Ok(None);
        }
        if got < HEADER {
            return Err((
                Error::FrameTruncated {
                    expected: HEADER,
                    got,
                },
                true,
            ));
        }
        let len = u32::from_le_bytes(header) as usize;
        if len > self.max {
            return Err((
                Error::InvalidFrame {
                    len: len as u64,
                    max: self.max,
                },
                true,
            ));
        }
        let mut payload = vec![0u8; len];
        let got = self.fill(&mut payload).map_err(|(e, _)| (e, true))?;
        if got < len {
            return Err((
                Error::FrameTruncated {
                    expected: HEADER + len,
                    got: HEADER + got,
                },
                true,
            ));
        }
        Ok(Some(payload))
    }

    /// Reads until `buf` is full or end of file; returns the bytes read, or
    /// the error and the bytes read before it.
    fn fill(&mut self, buf: &mut [u8]) -> core::result::Result<usize, (Error, usize)> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err((e.into(), n)),
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::Shutdown;
    use std::time::Duration;

    use super::*;
    use crate::socket::StreamSocket;

    fn pair() -> (StreamSocket, StreamSocket) {
        StreamSocket::pair().unwrap()
    }

    #[test]
    fn frames_arrive_whole_and_in_order() {
        let (a, b) = pair();
        let mut rx = FramedStream::new(&b);
        let big = vec![0xA5u8; 100_000];
        let t = std::thread::spawn(move || {
            let mut tx = FramedStream::new(a);
            for i in 0..50u32 {
                tx.send_frame(&i.to_le_bytes()).unwrap();
            }
            tx.send_frame(&big).unwrap();
            tx.get_ref().shutdown(Shutdown::Write).unwrap();
        });
        for i in 0..50u32 {
            assert_eq!(rx.recv_frame().unwrap().unwrap(), i.to_le_bytes());
        }
        assert_eq!(rx.recv_frame().unwrap().unwrap().len(), 100_000);
        assert_eq!(rx.recv_frame().unwrap(), None);
        t.join().unwrap();
    }

    #[test]
    fn oversized_length_is_invalid_frame_and_poisons() {
        let (mut a, b) = pair();
        a.write_all(&1000u32.to_le_bytes()).unwrap();
        let mut rx = FramedStream::with_max_frame(&b, 100);
        assert_eq!(
            rx.recv_frame(),
            Err(Error::InvalidFrame {
                len: 1000,
                max: 100
            })
        );
        assert!(rx.is_poisoned());
        assert_eq!(rx.recv_frame(), Err(Error::Poisoned));
        // A hostile u32::MAX length is rejected without allocating it.
        let (mut a, b) = pair();
        a.write_all(&u32::MAX.to_le_bytes()).unwrap();
        let mut rx = FramedStream::new(&b);
        assert!(matches!(rx.recv_frame(), Err(Error::InvalidFrame { .. })));
    }

    #[test]
    fn sending_an_oversized_frame_is_refused_without_poisoning() {
        let (a, _b) = pair();
        let mut tx = FramedStream::with_max_frame(&a, 4);
        assert_eq!(
            tx.send_frame(b"12345"),
            Err(Error::InvalidFrame { len: 5, max: 4 })
        );
        assert!(!tx.is_poisoned());
        tx.send_frame(b"1234").unwrap();
    }

    #[test]
    fn peer_closing_mid_payload_is_truncated_not_eof() {
        let (mut a, b) = pair();
        a.write_all(&10u32.to_le_bytes()).unwrap();
        a.write_all(b"abc").unwrap();
        drop(a);
        let mut rx = FramedStream::new(&b);
        assert_eq!(
            rx.recv_frame(),
            Err(Error::FrameTruncated {
                expected: 14,
                got: 7
            })
        );
        assert_eq!(rx.recv_frame(), Err(Error::Poisoned));
    }

    #[test]
    fn peer_closing_mid_header_is_truncated() {
        let (mut a, b) = pair();
        a.write_all(&[1, 0]).unwrap();
        drop(a);
        let mut rx = FramedStream::new(&b);
        assert_eq!(
            rx.recv_frame(),
            Err(Error::FrameTruncated {
                expected: 4,
                got: 2
            })
        );
    }

    #[test]
    fn timeout_before_a_frame_leaves_the_stream_usable() {
        let (a, b) = pair();
        b.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut rx = FramedStream::new(&b);
        assert_eq!(rx.recv_frame(), Err(Error::Timeout));
        assert!(!rx.is_poisoned());
        FramedStream::new(&a).send_frame(b"late").unwrap();
        assert_eq!(rx.recv_frame().unwrap().unwrap(), b"late");
    }
}
