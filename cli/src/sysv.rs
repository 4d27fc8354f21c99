//! `kipc sysv`: read and write a NUL-terminated string in System V shared
//! memory, the way classic C programs do (`ftok(path, proj_id)`, `shmget`,
//! `shmat`).

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

use kipc_host::sysv::{SysvKey, SysvSegment};

use crate::CmdResult;

/// Subcommands of `kipc sysv`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the NUL-terminated string stored at the start of a segment.
    ///
    /// Reads up to --size bytes (default: the whole segment; a larger
    /// --size is clamped to the segment) and prints them up to the first NUL,
    /// followed by a newline.
    Read {
        #[command(flatten)]
        key: KeyArgs,
        /// Bytes to read at most.
        #[arg(long)]
        size: Option<usize>,
    },
    /// Store MESSAGE, NUL-terminated, at the start of a segment, creating
    /// the segment if needed (`shmget(key, size, mode|IPC_CREAT)`).
    ///
    /// The default mode is 0600 (only this user), safer than the 0666 of
    /// the classic examples; pass --mode 0666 to match them.
    Write {
        #[command(flatten)]
        key: KeyArgs,
        /// Size of the segment to create (an existing one must be at least
        /// this large).
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Permission bits for a new segment, in octal.
        #[arg(long, default_value = "0600", value_parser = parse_mode)]
        mode: u32,
        /// The string to store (must not contain NUL).
        message: OsString,
    },
}

/// How the segment's key is made: `ftok(key_file, proj_id)`.
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// An existing file, the `path` argument of ftok(3).
    #[arg(long = "key-file")]
    key_file: PathBuf,
    /// The `proj_id` argument of ftok(3): a number (decimal or 0x hex, low
    /// 8 bits non-zero) or a single character such as A.
    #[arg(long = "proj-id", value_parser = parse_proj_id)]
    proj_id: i32,
}

impl KeyArgs {
    fn key(&self) -> Result<SysvKey, String> {
        SysvKey::from_path(&self.key_file, self.proj_id).map_err(|e| e.to_string())
    }

    fn object(&self) -> String {
        format!(
            "sysv segment (key file {}, proj_id {})",
            self.key_file.display(),
            self.proj_id
        )
    }
}

fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o777 => Ok(m),
        _ => Err(format!("{s:?} is not an octal mode in 0..=0777")),
    }
}

fn parse_proj_id(s: &str) -> Result<i32, String> {
    let mut chars = s.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if !c.is_ascii_digit() {
            return Ok(c as i32);
        }
    }
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => i32::from_str_radix(hex, 16),
        None => s.parse::<i32>(),
    };
    parsed.map_err(|_| format!("{s:?} is not a number or a single character"))
}

/// Runs a `kipc sysv` subcommand.
pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Read { key, size } => read(&key, size),
        Command::Write {
            key,
            size,
            mode,
            message,
        } => write(&key, size, mode, message.as_bytes()),
    }
}

fn read(args: &KeyArgs, size: Option<usize>) -> CmdResult {
    let seg = SysvSegment::open(args.key()?).map_err(|e| e.to_string())?;
    let len = size.map_or(seg.len(), |s| s.min(seg.len()));
    let mut buf = vec![0u8; len];
    seg.read(0, &mut buf).map_err(|e| e.to_string())?;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let mut out = std::io::stdout().lock();
    let text = buf.get(..end).unwrap_or_default();
    out.write_all(text)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(|e| format!("{}: writing stdout: {e}", args.object()))?;
    Ok(ExitCode::SUCCESS)
}

fn write(args: &KeyArgs, size: usize, mode: u32, message: &[u8]) -> CmdResult {
    if message.contains(&0) {
        return Err(format!("{}: the message contains a NUL byte", args.object()).into());
    }
    let mut seg =
        SysvSegment::open_or_create(args.key()?, size, mode).map_err(|e| e.to_string())?;
    if message.len() >= seg.len() {
        return Err(format!(
            "{}: a message of {} bytes plus its NUL does not fit the segment's {} bytes",
            args.object(),
            message.len(),
            seg.len()
        )
        .into());
    }
    seg.write(0, message).map_err(|e| e.to_string())?;
    seg.write(message.len(), &[0]).map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}
