//! kipc object names.
//!
//! A name is what a user types (`kipc ring create jobs`). It must be
//! non-empty, at most [`MAX_LEN`] bytes, and made only of printable ASCII
//! other than `/` (so no NUL, no whitespace, no control characters). Named
//! shared memory lives at `/dev/shm/kipc.NAME` ([`shm_path`] gives the
//! `shm_open` name `/kipc.NAME`); a memfd is labelled `kipc:NAME`.
//!
//! [`MAX_LEN`] is 200: `NAME_MAX` (255) less the `kipc.` prefix leaves 250,
//! memfd labels allow 249 less `kipc:`; 200 keeps room for suffixes that
//! later kinds of object may add.

use crate::{Error, Result};

/// The longest name accepted, in bytes.
pub const MAX_LEN: usize = 200;

/// The prefix of every kipc entry in `/dev/shm`.
pub const SHM_PREFIX: &str = "kipc.";

/// Checks that `name` is a usable kipc object name.
///
/// # Errors
///
/// [`Error::InvalidName`] if `name` is empty, longer than [`MAX_LEN`] bytes,
/// or contains `/`, NUL, whitespace or any non-printable or non-ASCII byte.
///
/// # Examples
///
/// ```
/// use kipc_host::name::validate;
/// assert!(validate("jobs-1").is_ok());
/// assert!(validate("").is_err());
/// assert!(validate("a/b").is_err());
/// ```
pub fn validate(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("is empty")
    } else if name.len() > MAX_LEN {
        Some("is longer than 200 bytes")
    } else if name.contains('/') {
        Some("contains '/'")
    } else if name.contains('\0') {
        Some("contains a NUL byte")
    } else if !name.bytes().all(|b| b.is_ascii_graphic()) {
        Some("contains whitespace, a control character or non-ASCII text")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => {
            // Keep the echoed name short and printable in error messages.
            let shown: String = name.chars().take(40).collect();
            Err(Error::InvalidName {
                name: shown.escape_debug().to_string(),
                reason,
            })
        }
    }
}

/// The `shm_open` name for `name`: `/kipc.NAME`.
///
/// # Errors
///
/// As [`validate`].
pub fn shm_path(name: &str) -> Result<String> {
    validate(name)?;
    Ok(format!("/{SHM_PREFIX}{name}"))
}

/// The `memfd_create` label for `name`: `kipc:NAME`.
///
/// # Errors
///
/// As [`validate`].
pub fn memfd_label(name: &str) -> Result<String> {
    validate(name)?;
    Ok(format!("kipc:{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str) -> &'static str {
        match validate(name) {
            Err(Error::InvalidName { reason, .. }) => reason,
            other => panic!("{name:?} should be invalid, got {other:?}"),
        }
    }

    #[test]
    fn ordinary_names_are_accepted_and_prefixed() {
        assert_eq!(shm_path("jobs").unwrap(), "/kipc.jobs");
        assert_eq!(memfd_label("a.b-c_1").unwrap(), "kipc:a.b-c_1");
        assert!(validate(&"x".repeat(MAX_LEN)).is_ok());
    }

    #[test]
    fn bad_names_give_invalid_name_with_reason() {
        assert_eq!(reason(""), "is empty");
        assert_eq!(reason("a/b"), "contains '/'");
        assert_eq!(reason("/"), "contains '/'");
        assert_eq!(reason("a\0b"), "contains a NUL byte");
        assert_eq!(reason(&"x".repeat(MAX_LEN + 1)), "is longer than 200 bytes");
        assert!(reason("a b").contains("whitespace"));
        assert!(reason("tab\t").contains("control"));
        assert!(reason("caf\u{e9}").contains("non-ASCII"));
    }
}
