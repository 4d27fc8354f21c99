//! C ABI for kipc (not yet built: see issue 7). This crate only compiles for now.
#![no_std]
