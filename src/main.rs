use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sts_gen::cli::Cli::parse(); // usage errors: clap prints them and exits 2
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = sts_gen::run(
        cli,
        &argv,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if sts_gen::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sts-gen: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
