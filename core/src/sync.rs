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

/// A short spin lock, for state that several CPUs or threads of one address
/// space change under `&mut` (never for memory shared across processes: a
/// holder that dies would wedge the peer).
///
/// Normally it is [`spin::mutex::SpinMutex`]: a test-and-test-and-set lock
/// whose waiters spin with `core::hint::spin_loop`, no OS needed. Under
/// `cfg(kipc_loom)` it is `loom::sync::Mutex`, so loom schedules the lock
/// itself (a waiter blocks until the holder releases) rather than exploring
/// every turn of a spin loop built on atomics it cannot see. The two have the
/// same contract for the code above them (mutual exclusion; the release of
/// one holder happens-before the acquire of the next), which is what the
/// models check that code against; `spin`'s own correctness is its crate's
/// to test.
///
/// It is not reentrant, and waiting for it is not interrupt-safe: code that
/// can interrupt a holder on the same CPU (a signal handler, an interrupt)
/// must use [`try_lock`](Self::try_lock) or a lock-free path instead.
#[derive(Debug, Default)]
pub struct SpinMutex<T> {
    #[cfg(not(kipc_loom))]
    inner: spin::mutex::SpinMutex<T>,
    #[cfg(kipc_loom)]
    inner: loom::sync::Mutex<T>,
}

/// Holds a [`SpinMutex`] locked; releases it when dropped.
#[derive(Debug)]
pub struct SpinMutexGuard<'a, T> {
    #[cfg(not(kipc_loom))]
    inner: spin::mutex::SpinMutexGuard<'a, T>,
    #[cfg(kipc_loom)]
    inner: loom::sync::MutexGuard<'a, T>,
}

impl<T> SpinMutex<T> {
    const_fn! {
        /// An unlocked mutex holding `value`.
        #[inline(always)]
        pub fn new(value: T) -> Self {
            #[cfg(not(kipc_loom))]
            let inner = spin::mutex::SpinMutex::new(value);
            #[cfg(kipc_loom)]
            let inner = loom::sync::Mutex::new(value);
            Self { inner }
        }
    }

    /// Takes the lock, spinning until it is free.
    #[inline]
    pub fn lock(&self) -> SpinMutexGuard<'_, T> {
        #[cfg(not(kipc_loom))]
        let inner = self.inner.lock();
        // A model that panics while holding the lock has failed already, so
        // poisoning tells nothing more.
        #[cfg(kipc_loom)]
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        SpinMutexGuard { inner }
    }

    /// Takes the lock if it is free, without waiting.
    #[inline]
    pub fn try_lock(&self) -> Option<SpinMutexGuard<'_, T>> {
        #[cfg(not(kipc_loom))]
        let inner = self.inner.try_lock()?;
        #[cfg(kipc_loom)]
        // Poisoned: a model thread panicked holding it, so the model failed.
        let inner = self.inner.try_lock().ok()?;
        Some(SpinMutexGuard { inner })
    }

    /// The value, through exclusive access (no locking needed).
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        #[cfg(not(kipc_loom))]
        let v = self.inner.get_mut();
        #[cfg(kipc_loom)]
        let v = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        v
    }
}

impl<T> core::ops::Deref for SpinMutexGuard<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> core::ops::DerefMut for SpinMutexGuard<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}
