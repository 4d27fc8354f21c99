//! `kipc completions SHELL` and `kipc man [DIR]`: shell completion scripts
//! (clap_complete) and manual pages (clap_mangen), both generated from the
//! same clap definitions that parse the command line, so they cannot drift.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap_complete::Shell;

use crate::CmdResult;

/// Arguments of `kipc completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Install (per user):
  kipc completions bash > ~/.local/share/bash-completion/completions/kipc
  kipc completions zsh  > ~/.zfunc/_kipc      # with fpath+=(~/.zfunc) in ~/.zshrc
  kipc completions fish > ~/.config/fish/completions/kipc.fish")]
pub struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_parser = ["bash", "zsh", "fish"])]
    shell: String,
}

/// Arguments of `kipc man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Install (then `man kipc`, `man kipc-ring-send`, ...):
  kipc man ~/.local/share/man/man1            # per user
  sudo kipc man /usr/local/share/man/man1     # for everyone")]
pub struct ManArgs {
    /// Write kipc.1 and one page per subcommand (kipc-ring.1,
    /// kipc-ring-send.1, ...) into DIR, creating it if needed. Without DIR,
    /// print kipc.1 on stdout.
    dir: Option<PathBuf>,
}

/// Runs `kipc completions SHELL`: the script on stdout.
pub fn completions(args: CompletionsArgs) -> CmdResult {
    let shell = match args.shell.as_str() {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        other => return Err(format!("no completions for shell {other:?}").into()),
    };
    let mut cmd = crate::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kipc", &mut out);
    write_stdout(&out)
}

/// Runs `kipc man [DIR]`.
pub fn man(args: ManArgs) -> CmdResult {
    // What clap_mangen::generate_to does to every page: `kipc help` is
    // `kipc --help`, not a page of its own.
    let cmd = crate::command().disable_help_subcommand(true);
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("man: cannot create {}: {e}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .map_err(|e| format!("man: writing pages into {}: {e}", dir.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            write_stdout(&out)
        }
    }
}

fn write_stdout(bytes: &[u8]) -> CmdResult {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("writing stdout: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
