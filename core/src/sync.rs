//! The one place kipc-core gets its atomics, cells, fences and spin hints.
//!
//! Normally these are `core`'s own types. Built with `RUSTFLAGS="--cfg kipc_loom"`
//! they are [loom]'s, so the loom models in `loom-tests/` explore every
//! interleaving of the *real* ring, doorbell and signal code rather than of a
//! copy. The cfg is prefixed (`kipc_loom`, not `loom`) so that it does not flip
//! dependencies that react to a plain `cfg(loom)`.
//!
//! `core/clippy.toml` forbids naming `core::sync::atomic`, `core::cell::UnsafeCell`
//! or `core::hint::spin_loop` anywhere else in the crate.
//!
//! Other crates (the host's futex calls, for instance) name these types through
//! this module too, so a doorbell word handed to `futex(2)` is the same type the
//! core wrote it with.
//!
//! [loom]: https://docs.rs/loom
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

/// Defines a function that is `const` in normal builds and plain under loom,
/// whose atomics and cells have no `const` constructors.
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(kipc_loom))]
        $(#[$attr])* $vis const fn $($rest)*
        #[cfg(kipc_loom)]
        $(#[$attr])* $vis fn $($rest)*
    };
}
pub(crate) use const_fn;

#[cfg(not(kipc_loom))]
use core::sync::atomic as imp;
#[cfg(kipc_loom)]
use loom::sync::atomic as imp;

pub use imp::Ordering;

/// An atomic fence (loom's under `cfg(kipc_loom)`). A wrapper rather than a
/// re-export so that `core/clippy.toml` can forbid the raw one elsewhere.
#[inline(always)]
pub fn fence(order: Ordering) {
    imp::fence(order);
}

/// Declares a transparent newtype over the platform (or loom) atomic.
///
/// The newtypes exist so that `core/clippy.toml` can forbid the raw
/// `core::sync::atomic` types everywhere in the crate (a plain re-export would
/// be the same type, and clippy could not tell the two apart). They `Deref` to
/// the wrapped atomic, so every method (`load`, `fetch_add`, ...) is the real
/// one, and `&AtomicU32` derefs to the `&core::sync::atomic::AtomicU32` that
/// `futex(2)` wrappers such as rustix's take.
macro_rules! atomic_newtype {
    ($(#[$doc:meta])* $name:ident($prim:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Default)]
        #[repr(transparent)]
        pub struct $name(imp::$name);

        impl $name {
            const_fn! {
                /// A new atomic holding `v`.
                #[inline(always)]
                pub fn new(v: $prim) -> Self {
                    Self(imp::$name::new(v))
                }
            }
        }

        impl core::ops::Deref for $name {
            type Target = imp::$name;
            #[inline(always)]
            fn deref(&self) -> &imp::$name {
                &self.0
            }
        }
    };
}

atomic_newtype!(
    /// An `AtomicBool` (loom's under `cfg(kipc_loom)`).
    AtomicBool(bool)
);
atomic_newtype!(
    /// An `AtomicU32` (loom's under `cfg(kipc_loom)`); doorbell words are these.
    AtomicU32(u32)
);
atomic_newtype!(
    /// An `AtomicU64` (loom's under `cfg(kipc_loom)`).
    AtomicU64(u64)
);
atomic_newtype!(
    /// An `AtomicUsize` (loom's under `cfg(kipc_loom)`).
    AtomicUsize(usize)
);

/// A hint that the caller is spinning; under loom, a yield so the model can
/// schedule the thread being waited for.
#[inline(always)]
pub fn spin_loop() {
    #[cfg(not(kipc_loom))]
    core::hint::spin_loop();
    #[cfg(kipc_loom)]
    loom::thread::yield_now();
}

/// An `UnsafeCell` with loom's closure-based access API.
///
/// Under `cfg(kipc_loom)` it is `loom::cell::UnsafeCell`, which checks every
/// access for data races; otherwise it is a zero-cost wrapper around
/// `core::cell::UnsafeCell`.
#[cfg(not(kipc_loom))]
#[derive(Debug, Default)]
#[repr(transparent)]
pub struct UnsafeCell<T: ?Sized>(core::cell::UnsafeCell<T>);

#[cfg(not(kipc_loom))]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    #[inline(always)]
    pub const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }
}

#[cfg(not(kipc_loom))]
impl<T: ?Sized> UnsafeCell<T> {
    /// Calls `f` with a shared raw pointer to the contents.
    #[inline(always)]
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a mutable raw pointer to the contents.
    #[inline(always)]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(kipc_loom)]
pub use loom::cell::UnsafeCell;

/// Aligns and pads a value to 128 bytes: two 64-byte lines, because x86-64's
/// adjacent-line prefetcher pulls cache lines in pairs. Keeping a producer-owned
/// word and a consumer-owned word in different `CachePadded`s stops the two
/// cores from stealing one line back and forth (false sharing).
#[derive(Debug, Default)]
#[repr(C, align(128))]
pub struct CachePadded<T>(pub T);

impl<T> CachePadded<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        Self(value)
    }
}

impl<T> core::ops::Deref for CachePadded<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}
