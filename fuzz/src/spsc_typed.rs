//! Fuzz body `spsc_typed`: the typed SPSC ring ([`kipc_core::spsc::Ring`])
//! against a `VecDeque`, single-threaded.
//!
//! Encoding: byte 0 picks the ring (`u32` or `u16` items, capacity 4 or 8,
//! or boxed items to exercise drops); then each operation is an opcode byte
//! and its arguments (see `run`); the input running out ends the run.

use std::collections::VecDeque;
use std::fmt::Debug;

use kipc_core::spsc::{PushError, Ring};

use crate::input::Input;

/// The target body.
pub fn spsc_typed(data: &[u8]) {
    let mut input = Input::new(data);
    match input.u8() % 5 {
        0 => run::<u32, 4>(&mut input),
        1 => run::<u32, 8>(&mut input),
        2 => run::<u16, 4>(&mut input),
        3 => run::<u16, 8>(&mut input),
        _ => run_boxed(&mut input),
    }
}

/// `Copy` items: every operation, batches included.
fn run<T, const N: usize>(input: &mut Input<'_>)
where
    T: Copy + PartialEq + Debug + From<u16> + Default,
{
    let mut ring = Ring::<T, N>::new();
    let mut model = VecDeque::<T>::new();
    'split: loop {
        let (mut tx, mut rx) = ring.split();
        while !input.is_empty() {
            match input.u8() % 8 {
                0 => {
                    let v = T::from(input.u16());
                    let want = if model.len() < N {
                        model.push_back(v);
                        Ok(())
                    } else {
                        Err(PushError::Full(v))
                    };
                    assert_eq!(tx.push(v), want);
                }
                1 => assert_eq!(rx.pop(), model.pop_front()),
                2 => assert_eq!(rx.peek(), model.front()),
                3 => {
                    let k = usize::from(input.u8()) % (2 * N + 1);
                    let items: Vec<T> = (0..k).map(|_| T::from(input.u16())).collect();
                    let n = tx.push_slice(&items);
                    assert_eq!(n, k.min(N - model.len()), "push_slice of {k}");
                    model.extend(&items[..n]);
                }
                4 => {
                    let k = usize::from(input.u8()) % (2 * N + 1);
                    let mut out = vec![T::default(); k];
                    let n = rx.pop_slice(&mut out);
                    assert_eq!(n, k.min(model.len()), "pop_slice of {k}");
                    let want: Vec<T> = model.drain(..n).collect();
                    assert_eq!(&out[..n], &want[..]);
                }
                5 => {
                    assert_eq!(tx.len(), model.len());
                    assert_eq!(rx.len(), model.len());
                    assert_eq!(tx.is_empty(), model.is_empty());
                    assert_eq!(rx.is_empty(), model.is_empty());
                    assert_eq!(tx.is_full(), model.len() == N);
                    assert_eq!(tx.free_len(), N - model.len());
                    assert_eq!((tx.capacity(), rx.capacity()), (N, N));
                }
                6 => continue 'split, // fresh handles; queued items stay
                _ => {
                    // A burst: push then pop a few, to wrap around quickly.
                    for i in 0..u16::from(input.u8() % 8) {
                        let v = T::from(i);
                        if tx.push(v).is_ok() {
                            model.push_back(v);
                        }
                        assert_eq!(rx.pop(), model.pop_front());
                    }
                }
            }
        }
        break;
    }
    let (_, mut rx) = ring.split();
    while let Some(v) = model.pop_front() {
        assert_eq!(rx.pop(), Some(v));
    }
    assert_eq!(rx.pop(), None);
}

/// Boxed items: push/pop/peek and dropping a non-empty ring, so a double or
/// missed drop shows up (AddressSanitizer, or the leak check).
fn run_boxed(input: &mut Input<'_>) {
    let mut ring = Ring::<Box<u16>, 4>::new();
    let mut model = VecDeque::new();
    let (mut tx, mut rx) = ring.split();
    while !input.is_empty() {
        match input.u8() % 3 {
            0 => {
                let v = input.u16();
                match tx.push(Box::new(v)) {
                    Ok(()) => model.push_back(v),
                    Err(PushError::Full(b)) => {
                        assert_eq!(model.len(), 4);
                        assert_eq!(*b, v);
                    }
                }
            }
            1 => assert_eq!(rx.pop().map(|b| *b), model.pop_front()),
            _ => assert_eq!(rx.peek().map(|b| **b), model.front().copied()),
        }
    }
    // Dropping the ring drops whatever is still queued.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_inputs_agree_with_the_model() {
        crate::support::random_inputs(0x5350_5343, 2000, 200, spsc_typed);
    }

    #[test]
    fn wrap_around_sequence_agrees() {
        // u32 x 4: push 3, pop 2, push_slice 4 (3 fit), pop_slice 8.
        spsc_typed(&[
            0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 1, 1, 3, 4, 5, 0, 6, 0, 7, 0, 8, 0, 4, 8,
        ]);
    }
}
