//! Fuzz target `rpc_frame`: decodes arbitrary bytes as an RPC frame
//! (`kipc_host::rpc::frame`), which must never panic, and checks that
//! whatever decodes re-encodes to the same bytes; then builds a valid frame
//! from the input's parts and checks that it round-trips.

use kipc_host::rpc::frame::{Frame, FrameKind, HEADER_LEN, MAX_REPLY_ADDR};

/// The target body.
pub fn rpc_frame(data: &[u8]) {
    // 1. Arbitrary bytes: an error or a frame that encodes back exactly.
    if let Ok(f) = Frame::decode(data) {
        let mut out = Vec::new();
        f.encode(&mut out).expect("a decoded frame re-encodes");
        assert_eq!(out, data, "decode/encode is not the identity");
        assert_eq!(f.encoded_len(), data.len());
    }
    // 2. A valid frame built from the input round-trips.
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let kind = match sel % 3 {
        0 => FrameKind::Request,
        1 => FrameKind::Response,
        _ => FrameKind::Error,
    };
    let split = (usize::from(sel) * 7).min(rest.len()).min(MAX_REPLY_ADDR);
    let (reply_to, payload) = rest.split_at(split);
    let f = Frame {
        kind,
        method: u32::from(sel).wrapping_mul(0x0101_0101),
        correlation: (rest.len() as u64).rotate_left(u32::from(sel)),
        status: u16::from(sel),
        reply_to,
        payload,
    };
    let mut out = Vec::new();
    f.encode(&mut out).expect("a frame within limits encodes");
    assert_eq!(out.len(), HEADER_LEN + rest.len());
    assert_eq!(Frame::decode(&out), Ok(f));
    // Every truncation is an error, never a panic or a shorter frame.
    for cut in [
        0,
        1,
        HEADER_LEN - 1,
        HEADER_LEN,
        out.len().saturating_sub(1),
    ] {
        if cut < out.len() {
            assert!(
                Frame::decode(&out[..cut]).is_err(),
                "truncated to {cut} decoded"
            );
        }
    }
}
