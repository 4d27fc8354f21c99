//! Helpers shared by kipc's multi-process integration tests.

pub mod child;
pub mod mbox_payload;
pub mod ring_payload;
pub mod shm;
pub mod stress;

pub use child::ChildGuard;
