//! `sts-gen`: parse the command line, run it, and map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sts_gen::cli::Cli::parse(); // usage errors: clap prints them and exits 2
    // The arguments after the program name, for the header that names the command.
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut out = std::io::stdout().lock();
    match sts_gen::run(cli, &argv, &mut out, &mut std::io::stderr()) {
        Ok(()) => ExitCode::SUCCESS,
        // `sts-gen … | head`: std ignores SIGPIPE, so a closed pipe is a write error (EPIPE).
        Err(e) if sts_gen::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sts-gen: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
