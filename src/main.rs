//! `sts-gen`: parse the command line, run it, and map the result to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let invocation = match sts_gen::cli::parse(std::env::args_os()) {
        Ok(invocation) => invocation,
        // --help and --version: written here, so that a failed write (a full disk) fails.
        Err(e) if !e.use_stderr() => {
            let text = e.render().to_string();
            let written = sts_gen::output::write_stdout(&mut std::io::stdout().lock(), &text);
            return match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if sts_gen::is_broken_pipe(&e) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sts-gen: error: {}", sts_gen::error_line(&format!("{e:#}")));
                    ExitCode::FAILURE
                }
            };
        }
        Err(e) => e.exit(), // usage errors: clap prints them (exit 2)
    };
    // The arguments after the program name, for the header that names the command.
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let result = sts_gen::run(
        invocation,
        &argv,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if sts_gen::is_broken_pipe(&e) => ExitCode::SUCCESS, // `| head` is not an error
        Err(e) => {
            eprintln!("sts-gen: error: {}", sts_gen::error_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}
