//! Fuzz body `mpmc_typed`: the typed MPMC ring ([`kipc_core::mpmc::Ring`])
//! against a `VecDeque`, single-threaded.
//!
//! Encoding: byte 0 picks the ring (`u32` items with capacity 4 or 8, or
//! boxed items to exercise drops); then each operation is an opcode byte and
//! its arguments; the input running out ends the run.

use std::collections::VecDeque;

use kipc_core::mpmc::{PushError, Ring};

use crate::input::Input;

/// The target body.
pub fn mpmc_typed(data: &[u8]) {
    let mut input = Input::new(data);
    match input.u8() % 3 {
        0 => run::<4>(&mut input),
        1 => run::<8>(&mut input),
        _ => run_boxed(&mut input),
    }
}

fn run<const N: usize>(input: &mut Input<'_>) {
    let ring = Ring::<u32, N>::new();
    let mut model = VecDeque::<u32>::new();
    while !input.is_empty() {
        match input.u8() % 6 {
            0 => {
                let v = input.u32();
                let want = if model.len() < N {
                    model.push_back(v);
                    Ok(())
                } else {
                    Err(PushError::Full(v))
                };
                assert_eq!(ring.push(v), want);
            }
            1 => assert_eq!(ring.pop(), model.pop_front()),
            2 => {
                let k = usize::from(input.u8()) % (2 * N + 1);
                let items: Vec<u32> = (0..k).map(|_| input.u32()).collect();
                let n = ring.push_slice(&items);
                assert_eq!(n, k.min(N - model.len()), "push_slice of {k}");
                model.extend(&items[..n]);
            }
            3 => {
                let k = usize::from(input.u8()) % (2 * N + 1);
                let mut out = vec![0; k];
                let n = ring.pop_slice(&mut out);
                assert_eq!(n, k.min(model.len()), "pop_slice of {k}");
                let want: Vec<u32> = model.drain(..n).collect();
                assert_eq!(&out[..n], &want[..]);
            }
            4 => {
                assert_eq!(ring.len(), model.len());
                assert_eq!(ring.is_empty(), model.is_empty());
                assert_eq!(ring.is_full(), model.len() == N);
                assert_eq!(ring.capacity(), N);
            }
            _ => {
                // A burst of push/pop pairs, to go round the ring quickly.
                for i in 0..u32::from(input.u8() % 8) {
                    if ring.push(i).is_ok() {
                        model.push_back(i);
                    }
                    assert_eq!(ring.pop(), model.pop_front());
                }
            }
        }
    }
    while let Some(v) = model.pop_front() {
        assert_eq!(ring.pop(), Some(v));
    }
    assert_eq!(ring.pop(), None);
}

/// Boxed items: a double or missed drop shows up under AddressSanitizer or
/// its leak check.
fn run_boxed(input: &mut Input<'_>) {
    let ring = Ring::<Box<u32>, 2>::new();
    let mut model = VecDeque::new();
    while !input.is_empty() {
        if input.u8() % 2 == 0 {
            let v = input.u32();
            match ring.push(Box::new(v)) {
                Ok(()) => model.push_back(v),
                Err(PushError::Full(b)) => {
                    assert_eq!(model.len(), 2);
                    assert_eq!(*b, v);
                }
            }
        } else {
            assert_eq!(ring.pop().map(|b| *b), model.pop_front());
        }
    }
    // Dropping the ring drops whatever is still queued.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_inputs_agree_with_the_model() {
        crate::support::random_inputs(0x4d50_4d43, 2000, 200, mpmc_typed);
    }
}
