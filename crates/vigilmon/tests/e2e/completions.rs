//! `vigilmon completions SHELL` and the manual pages, as the package installs them:
//! each shell's script names the subcommands, an unknown shell is a usage error, and
//! the hidden `manpage` command writes a page per command.

use test_support::run_cli;

fn vigilmon(args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    run_cli(crate::bin(), &args, None)
}

#[test]
fn completions_for_each_shell_name_the_subcommands() {
    for (shell, marker) in [
        ("bash", "complete -F _vigilmon"),
        ("zsh", "#compdef vigilmon"),
        ("fish", "complete -c vigilmon"),
    ] {
        let (code, out, err) = vigilmon(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: no {marker:?} in:\n{out}");
        for sub in [
            "serve",
            "agent",
            "backup",
            "restore",
            "completions",
            "token",
            "import",
        ] {
            assert!(out.contains(sub), "{shell}: {sub} is not offered");
        }
        // The packaging-only command is not offered.
        assert!(
            !out.contains("manpage"),
            "{shell} offers the hidden manpage command"
        );
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let (code, out, err) = vigilmon(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("invalid value 'tcsh'") && err.contains("[possible values: bash, zsh, fish]"),
        "{err}"
    );
    let (code, _, err) = vigilmon(&["completions"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn manual_pages_cover_every_command() {
    let (code, out, err) = vigilmon(&["manpage"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(".TH vigilmon 1"), "{out}");
    assert!(out.contains("vigilmon\\-backup(1)"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    let (code, _, err) = vigilmon(&["manpage", "--out-dir", &out_dir.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    for page in [
        "vigilmon.1",
        "vigilmon-serve.1",
        "vigilmon-backup.1",
        "vigilmon-restore.1",
        "vigilmon-token-create.1",
    ] {
        let text =
            std::fs::read_to_string(out_dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".SH SYNOPSIS"), "{page}:\n{text}");
    }
    assert!(!out_dir.join("vigilmon-manpage.1").exists());
    let serve = std::fs::read_to_string(out_dir.join("vigilmon-serve.1")).unwrap();
    assert!(serve.contains("VIGILMON_DATA_DIR"), "{serve}");
}
