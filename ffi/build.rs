//! Gives the shared library (the cdylib) a soname, so programs linked
//! against it record which ABI they need and an installed
//! `libkipc.so.X.Y.Z` can sit beside older ones.
//!
//! The soname follows Cargo's semver: `libkipc.so.MAJOR` from 1.0 on; while
//! the major version is 0 a minor version may break the ABI, so it is
//! `libkipc.so.0.MINOR`. `install.sh` installs the library under that name
//! (plus the full version and the `libkipc.so` link), and exports the same
//! name to the crate's code as `KIPC_SONAME`.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_default();
    let soname = if major == "0" {
        format!("libkipc.so.0.{minor}")
    } else {
        format!("libkipc.so.{major}")
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    println!("cargo:rustc-env=KIPC_SONAME={soname}");
    println!("cargo:rerun-if-changed=build.rs");
}
