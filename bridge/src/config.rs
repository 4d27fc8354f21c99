//! The Zenoh session a bridge opens: from flags or a Zenoh config file.

use std::path::PathBuf;

use zenoh::Wait;

use crate::{BridgeError, Result};

/// How a bridge joins Zenoh. Flags override the config file's values.
///
/// # Examples
///
/// ```
/// use kipc_bridge::ZenohArgs;
/// let args = ZenohArgs {
///     mode: Some("peer".into()),
///     listen: vec!["tcp/127.0.0.1:0".into()],
///     no_multicast: true,
///     ..ZenohArgs::default()
/// };
/// assert!(args.to_config().is_ok());
/// let bad = ZenohArgs { mode: Some("kangaroo".into()), ..ZenohArgs::default() };
/// assert!(bad.to_config().is_err());
/// ```
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ZenohArgs {
    /// Zenoh mode: `peer` (default) or `client` (through a router).
    #[arg(long, global = true)]
    pub mode: Option<String>,
    /// Endpoints to connect to, e.g. `tcp/10.0.0.1:7447` or
    /// `tls/host:7447` (repeatable).
    #[arg(long, global = true)]
    pub connect: Vec<String>,
    /// Endpoints to listen on, e.g. `tcp/0.0.0.0:7447` (repeatable).
    #[arg(long, global = true)]
    pub listen: Vec<String>,
    /// A Zenoh config file (JSON5): TLS certificates, routers, anything
    /// the flags do not cover.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Do not discover peers by UDP multicast (connect explicitly).
    #[arg(long, global = true)]
    pub no_multicast: bool,
}

/// A JSON string literal for `s` (endpoint strings have no quotes or
/// backslashes in practice; escape them anyway).
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn json_list(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| json_str(s)).collect();
    format!("[{}]", parts.join(","))
}

impl ZenohArgs {
    /// The Zenoh configuration these arguments describe.
    ///
    /// # Errors
    ///
    /// [`BridgeError::Usage`] for an unreadable config file, an unknown
    /// mode or an endpoint Zenoh does not accept.
    pub fn to_config(&self) -> Result<zenoh::Config> {
        let mut config = match &self.config {
            Some(path) => zenoh::Config::from_file(path)
                .map_err(|e| BridgeError::Usage(format!("{}: {e}", path.display())))?,
            None => zenoh::Config::default(),
        };
        let mut set = |key: &str, value: String| {
            config
                .insert_json5(key, &value)
                .map_err(|e| BridgeError::Usage(format!("{key} = {value}: {e}")))
        };
        if let Some(mode) = &self.mode {
            if mode != "peer" && mode != "client" {
                return Err(BridgeError::Usage(format!(
                    "--mode {mode}: expected peer or client"
                )));
            }
            set("mode", json_str(mode))?;
        }
        if !self.connect.is_empty() {
            set("connect/endpoints", json_list(&self.connect))?;
        }
        if !self.listen.is_empty() {
            set("listen/endpoints", json_list(&self.listen))?;
        }
        if self.no_multicast {
            set("scouting/multicast/enabled", "false".into())?;
        }
        Ok(config)
    }

    /// Opens the session and reports on stderr who this bridge is and what
    /// it listens on.
    ///
    /// # Errors
    ///
    /// As [`to_config`](Self::to_config); [`BridgeError::Zenoh`] if the
    /// session cannot open (for example an endpoint that cannot be bound).
    pub fn open(&self) -> Result<zenoh::Session> {
        let config = self.to_config()?;
        let listen = config
            .get_json("listen/endpoints")
            .unwrap_or_else(|_| "Zenoh's default".into());
        let session = zenoh::open(config).wait()?;
        eprintln!("kipc-bridge: zenoh {} listening on {listen}", session.zid());
        Ok(session)
    }
}
