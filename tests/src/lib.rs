//! Helpers shared by kipc's multi-process integration tests.
