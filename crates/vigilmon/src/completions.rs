//! `vigilmon completions SHELL` and the manual pages: both generated from the same
//! clap definition as the command line itself, so they never drift from it. The
//! pages are written by the hidden `vigilmon manpage` command, which the packaging
//! script runs to put them into the Debian package.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use clap::ValueEnum;

/// The shells completions are generated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The completion script for `shell`, for the command `cmd` (named `vigilmon`).
pub fn script(shell: Shell, cmd: &mut clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    let name = cmd.get_name().to_owned();
    match shell {
        Shell::Bash => clap_complete::generate(clap_complete::Shell::Bash, cmd, name, &mut out),
        Shell::Zsh => clap_complete::generate(clap_complete::Shell::Zsh, cmd, name, &mut out),
        Shell::Fish => clap_complete::generate(clap_complete::Shell::Fish, cmd, name, &mut out),
    }
    out
}

/// The page of the command itself (`vigilmon.1`), in roff.
pub fn page(cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into memory cannot fail.
    let _ = clap_mangen::Man::new(cmd).render(&mut out);
    out
}

/// Writes `vigilmon.1` and one page per subcommand (`vigilmon-serve.1`,
/// `vigilmon-token-create.1`, …) into `dir`, creating it.
pub fn write_pages(cmd: clap::Command, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--out-dir: cannot create {}", dir.display()))?;
    clap_mangen::generate_to(cmd, dir)
        .with_context(|| format!("--out-dir: cannot write the pages into {}", dir.display()))
}

/// Writes `bytes` to standard output; a closed pipe is not an error worth a panic.
pub fn print(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
}
