//! The RPC frame: a fixed 24-byte little-endian header, the reply address,
//! the payload. Pure byte manipulation (no system calls), so it is fuzzed
//! directly (`fuzz/src/rpc_frame.rs`).
//!
//! | offset | size | field          | meaning                                            |
//! |--------|------|----------------|----------------------------------------------------|
//! | 0      | 2    | `magic`        | [`MAGIC`] (`b"kR"`)                                |
//! | 2      | 1    | `version`      | [`VERSION`]; any other is refused                  |
//! | 3      | 1    | `kind`         | 1 request, 2 response, 3 error ([`FrameKind`])     |
//! | 4      | 4    | `method`       | method id (echoed in responses and errors)         |
//! | 8      | 8    | `correlation`  | chosen by the client, echoed by the server         |
//! | 16     | 4    | `payload_len`  | `<=` [`MAX_PAYLOAD`]                               |
//! | 20     | 2    | `reply_len`    | `<=` [`MAX_REPLY_ADDR`]; 0 when the transport is a connection |
//! | 22     | 2    | `status`       | 0, or for an error frame a [`status`] code         |
//! | 24     | `reply_len`   | reply address | where the response goes (a mailbox name)  |
//! | 24 + `reply_len` | `payload_len` | payload | request, response, or error text (UTF-8) |
//!
//! A frame is exactly `24 + reply_len + payload_len` bytes: anything shorter
//! or longer is [`FrameError::LengthMismatch`], so a frame never carries
//! trailing garbage. Every field is checked on decode; every bit pattern
//! gives a [`Frame`] or a [`FrameError`], never a panic.

use core::fmt;

/// `b"kR"` read as a little-endian `u16`.
pub const MAGIC: u16 = u16::from_le_bytes(*b"kR");
/// The only header version this code speaks.
pub const VERSION: u8 = 1;
/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 24;
/// Largest payload (16 MiB, the largest mailbox message).
pub const MAX_PAYLOAD: usize = 1 << 24;
/// Longest reply address.
pub const MAX_REPLY_ADDR: usize = 1024;

/// Status codes of error frames.
pub mod status {
    /// No handler is registered for the method.
    pub const METHOD_NOT_FOUND: u16 = 1;
    /// The request did not fit the server's limits.
    pub const REQUEST_TOO_LARGE: u16 = 2;
    /// The request was not a well-formed frame (the payload says why).
    pub const MALFORMED: u16 = 3;
    /// The handler failed; the payload is its message.
    pub const REMOTE: u16 = 4;
    /// The response did not fit the client's reply mailbox.
    pub const RESPONSE_TOO_LARGE: u16 = 5;
}

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Client to server.
    Request,
    /// Server to client: the handler's result.
    Response,
    /// Server to client: a failure, with a [`status`] code.
    Error,
}

impl FrameKind {
    /// The header byte.
    pub const fn to_u8(self) -> u8 {
        match self {
            FrameKind::Request => 1,
            FrameKind::Response => 2,
            FrameKind::Error => 3,
        }
    }

    /// The kind of a header byte, if it names one.
    pub const fn from_u8(b: u8) -> Option<Self> {
        match b {
            1 => Some(FrameKind::Request),
            2 => Some(FrameKind::Response),
            3 => Some(FrameKind::Error),
            _ => None,
        }
    }
}

/// Why bytes are not a frame (or a frame cannot be encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the fixed header.
    Short {
        /// Bytes given.
        len: usize,
    },
    /// The magic number is wrong: not a kipc RPC frame.
    BadMagic(u16),
    /// A header version this code does not speak.
    BadVersion(u8),
    /// A kind byte that names no [`FrameKind`].
    BadKind(u8),
    /// The header's lengths do not add up to the bytes given.
    LengthMismatch {
        /// `24 + reply_len + payload_len` from the header.
        header: u64,
        /// Bytes given.
        actual: usize,
    },
    /// A payload or reply address above the limits.
    Oversized {
        /// Its length.
        len: u64,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Short { len } => {
                write!(
                    f,
                    "frame of {len} bytes is shorter than its {HEADER_LEN}-byte header"
                )
            }
            FrameError::BadMagic(m) => write!(f, "bad frame magic {m:#06x}"),
            FrameError::BadVersion(v) => write!(f, "unsupported frame version {v}"),
            FrameError::BadKind(k) => write!(f, "unknown frame kind {k}"),
            FrameError::LengthMismatch { header, actual } => {
                write!(f, "frame header says {header} bytes, got {actual}")
            }
            FrameError::Oversized { len, max } => {
                write!(f, "frame field of {len} bytes exceeds the limit of {max}")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// A decoded frame, borrowing its variable parts from the input.
///
/// # Examples
///
/// ```
/// use kipc_host::rpc::frame::{Frame, FrameKind};
/// let f = Frame::request(7, 99, b"inbox.reply.1.0", b"ping");
/// let mut bytes = Vec::new();
/// f.encode(&mut bytes)?;
/// assert_eq!(bytes.len(), 24 + 15 + 4);
/// let back = Frame::decode(&bytes)?;
/// assert_eq!(back, f);
/// assert_eq!(back.kind, FrameKind::Request);
/// # Ok::<(), kipc_host::rpc::frame::FrameError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Request, response or error.
    pub kind: FrameKind,
    /// Method id.
    pub method: u32,
    /// Correlation id.
    pub correlation: u64,
    /// 0, or an error frame's [`status`] code.
    pub status: u16,
    /// Where the response goes (empty on connection transports).
    pub reply_to: &'a [u8],
    /// The payload.
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// A request frame.
    pub const fn request(
        method: u32,
        correlation: u64,
        reply_to: &'a [u8],
        payload: &'a [u8],
    ) -> Self {
        Self {
            kind: FrameKind::Request,
            method,
            correlation,
            status: 0,
            reply_to,
            payload,
        }
    }

    /// A response frame.
    pub const fn response(method: u32, correlation: u64, payload: &'a [u8]) -> Self {
        Self {
            kind: FrameKind::Response,
            method,
            correlation,
            status: 0,
            reply_to: &[],
            payload,
        }
    }

    /// An error frame with a [`status`] code and a message.
    pub const fn error(method: u32, correlation: u64, status: u16, message: &'a [u8]) -> Self {
        Self {
            kind: FrameKind::Error,
            method,
            correlation,
            status,
            reply_to: &[],
            payload: message,
        }
    }

    /// Bytes the encoded frame takes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.reply_to.len() + self.payload.len()
    }

    /// Appends the encoded frame to `out` (after clearing it).
    ///
    /// # Errors
    ///
    /// [`FrameError::Oversized`] if the payload exceeds [`MAX_PAYLOAD`] or
    /// the reply address [`MAX_REPLY_ADDR`]; `out` is then left empty.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        out.clear();
        if self.payload.len() > MAX_PAYLOAD {
            return Err(FrameError::Oversized {
                len: self.payload.len() as u64,
                max: MAX_PAYLOAD,
            });
        }
        if self.reply_to.len() > MAX_REPLY_ADDR {
            return Err(FrameError::Oversized {
                len: self.reply_to.len() as u64,
                max: MAX_REPLY_ADDR,
            });
        }
        out.reserve(self.encoded_len());
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.push(VERSION);
        out.push(self.kind.to_u8());
        out.extend_from_slice(&self.method.to_le_bytes());
        out.extend_from_slice(&self.correlation.to_le_bytes());
        // Both fit: checked against limits far below u32/u16 maxima.
        out.extend_from_slice(&(self.payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.reply_to.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(self.reply_to);
        out.extend_from_slice(self.payload);
        Ok(())
    }

    /// Decodes `bytes`, which must be exactly one frame.
    ///
    /// # Errors
    ///
    /// A [`FrameError`] naming the first check that failed, in header order:
    /// short, magic, version, kind, oversized fields, length mismatch.
    ///
    /// # Examples
    ///
    /// ```
    /// use kipc_host::rpc::frame::{Frame, FrameError};
    /// assert_eq!(Frame::decode(b"kR"), Err(FrameError::Short { len: 2 }));
    /// assert_eq!(Frame::decode(&[0; 24]), Err(FrameError::BadMagic(0)));
    /// ```
    pub fn decode(bytes: &'a [u8]) -> Result<Self, FrameError> {
        let Some((head, rest)) = bytes.split_first_chunk::<HEADER_LEN>() else {
            return Err(FrameError::Short { len: bytes.len() });
        };
        let u16_at = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
        let u32_at =
            |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let magic = u16_at(0);
        if magic != MAGIC {
            return Err(FrameError::BadMagic(magic));
        }
        if head[2] != VERSION {
            return Err(FrameError::BadVersion(head[2]));
        }
        let kind = FrameKind::from_u8(head[3]).ok_or(FrameError::BadKind(head[3]))?;
        let method = u32_at(4);
        let mut corr = [0u8; 8];
        corr.copy_from_slice(&head[8..16]);
        let correlation = u64::from_le_bytes(corr);
        let payload_len = u32_at(16) as usize;
        let reply_len = u16_at(20) as usize;
        let status = u16_at(22);
        if payload_len > MAX_PAYLOAD {
            return Err(FrameError::Oversized {
                len: payload_len as u64,
                max: MAX_PAYLOAD,
            });
        }
        if reply_len > MAX_REPLY_ADDR {
            return Err(FrameError::Oversized {
                len: reply_len as u64,
                max: MAX_REPLY_ADDR,
            });
        }
        // Both are bounded above, so the sum cannot overflow.
        if rest.len() != reply_len + payload_len {
            return Err(FrameError::LengthMismatch {
                header: (HEADER_LEN + reply_len + payload_len) as u64,
                actual: bytes.len(),
            });
        }
        let (reply_to, payload) = rest.split_at(reply_len);
        Ok(Frame {
            kind,
            method,
            correlation,
            status,
            reply_to,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(f: &Frame<'_>) -> Vec<u8> {
        let mut v = Vec::new();
        f.encode(&mut v).unwrap();
        v
    }

    #[test]
    fn header_is_little_endian_at_fixed_offsets() {
        let v = encoded(&Frame::request(
            0x0403_0201,
            0x0807_0605_0403_0201,
            b"ab",
            b"xyz",
        ));
        assert_eq!(&v[..4], &[b'k', b'R', 1, 1]);
        assert_eq!(&v[4..8], &[1, 2, 3, 4]);
        assert_eq!(&v[8..16], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&v[16..20], &[3, 0, 0, 0]);
        assert_eq!(&v[20..24], &[2, 0, 0, 0]);
        assert_eq!(&v[24..], b"abxyz");
    }

    #[test]
    fn every_malformed_input_has_its_own_error() {
        let good = encoded(&Frame::error(5, 6, status::REMOTE, b"boom"));
        assert_eq!(
            Frame::decode(&good[..23]),
            Err(FrameError::Short { len: 23 })
        );
        let mut v = good.clone();
        v[0] ^= 1;
        assert!(matches!(Frame::decode(&v), Err(FrameError::BadMagic(_))));
        let mut v = good.clone();
        v[2] = 2;
        assert_eq!(Frame::decode(&v), Err(FrameError::BadVersion(2)));
        let mut v = good.clone();
        v[3] = 9;
        assert_eq!(Frame::decode(&v), Err(FrameError::BadKind(9)));
        let mut v = good.clone();
        v.push(0);
        assert!(matches!(
            Frame::decode(&v),
            Err(FrameError::LengthMismatch { .. })
        ));
        assert!(matches!(
            Frame::decode(&good[..good.len() - 1]),
            Err(FrameError::LengthMismatch { .. })
        ));
        let mut v = good.clone();
        v[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Frame::decode(&v),
            Err(FrameError::Oversized { .. })
        ));
        let mut v = good;
        v[20..22].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(matches!(
            Frame::decode(&v),
            Err(FrameError::Oversized { .. })
        ));
    }

    #[test]
    fn oversized_reply_address_is_refused_on_encode() {
        let addr = vec![b'a'; MAX_REPLY_ADDR + 1];
        let mut out = vec![1, 2, 3];
        let r = Frame::request(1, 1, &addr, b"").encode(&mut out);
        assert!(matches!(r, Err(FrameError::Oversized { .. })));
        assert!(out.is_empty());
    }
}
