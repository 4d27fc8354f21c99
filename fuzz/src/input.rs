//! Decoding structured operations from fuzzer bytes.

/// A cursor over fuzzer input that never fails: past the end it yields zeros,
/// so every input decodes to *some* operation sequence and short inputs are
/// not special.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    /// Wraps fuzzer bytes.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// `true` once every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The next byte, or 0 past the end.
    pub fn u8(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((b, rest)) => {
                self.bytes = rest;
                *b
            }
            None => 0,
        }
    }

    /// The next little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// Up to `max` bytes, length taken from the next byte.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let want = usize::from(self.u8()) % (max + 1);
        let n = want.min(self.bytes.len());
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_end_reads_zero() {
        let mut i = Input::new(&[1, 2]);
        assert_eq!(i.u8(), 1);
        assert_eq!(i.u16(), 2);
        assert_eq!(i.u32(), 0);
        assert!(i.is_empty());
    }

    #[test]
    fn bytes_is_bounded_by_max_and_input() {
        let data = [7u8, 9, 9, 9];
        let mut i = Input::new(&data);
        assert_eq!(i.bytes(3).len(), 3);
        let mut j = Input::new(&[5, 1]);
        assert_eq!(j.bytes(10), &[1]);
    }
}
