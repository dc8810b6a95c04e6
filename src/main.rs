// The C `main` is ours (`no_main`): std's start-up would first find the main thread's stack by
// parsing /proc/self/maps and map an alternate signal stack, for the message a stack overflow
// prints; that was a twentieth of a run (BENCHMARKS.md). What else std's start-up does that
// matters here is done below: the arguments are read from `argv` (std's `env::args` would be
// empty without its start-up except on glibc), standard descriptors that are closed point to
// /dev/null, and SIGPIPE is ignored so that a closed pipe is a write error (which ends the run
// quietly). A stack overflow, a bug, still kills the process: with SIGSEGV instead of a message.
#![no_main]

use std::ffi::{c_char, c_int};

use clap::Parser;

#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    sys::init();
    // SAFETY: the C runtime passes `argc` valid NUL-terminated strings in `argv`.
    let args = unsafe { sys::args(argc, argv) };
    let cli = sts_gen::cli::Cli::parse_from(&args); // usage errors: clap prints them, exits 2
    let argv: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let result = sts_gen::run(
        cli,
        &argv,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
    );
    let code = match result {
        Ok(()) => 0,
        Err(e) if sts_gen::is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("sts-gen: error: {e:#}");
            1
        }
    };
    // Flushes stdout, as a return from std's main would.
    std::process::exit(code)
}

/// The arguments as the C runtime passed them (std fills `std::env::args` from them only in its
/// own start-up, except on glibc).
#[cfg(unix)]
mod argv {
    use std::ffi::{CStr, OsString, c_char, c_int};
    use std::os::unix::ffi::OsStrExt;

    /// # Safety
    /// `argv` holds `argc` valid NUL-terminated strings.
    pub unsafe fn args(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
        (0..usize::try_from(argc).unwrap_or(0))
            // SAFETY: the caller's contract.
            .map(|i| unsafe { CStr::from_ptr(*argv.add(i)) })
            .map(|s| std::ffi::OsStr::from_bytes(s.to_bytes()).to_owned())
            .collect()
    }
}

#[cfg(target_os = "linux")]
mod sys {
    pub use super::argv::args;
    use std::ffi::{c_char, c_int, c_short, c_ulong};

    #[repr(C)]
    struct PollFd {
        fd: c_int,
        events: c_short,
        revents: c_short,
    }

    const POLLNVAL: c_short = 0x20;
    const O_RDWR: c_int = 2;
    const SIGPIPE: c_int = 13;
    const SIG_IGN: usize = 1;

    unsafe extern "C" {
        fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
        fn open(path: *const c_char, flags: c_int, ...) -> c_int;
        fn signal(signum: c_int, handler: usize) -> usize;
    }

    pub fn init() {
        let mut fds = [0, 1, 2].map(|fd| PollFd {
            fd,
            events: 0,
            revents: 0,
        });
        // SAFETY: `fds` is a valid array of three pollfd structs; the path is NUL-terminated.
        unsafe {
            if poll(fds.as_mut_ptr(), 3, 0) != -1 {
                for fd in &fds {
                    // The lowest free descriptor is the closed one.
                    if fd.revents & POLLNVAL != 0 && open(c"/dev/null".as_ptr(), O_RDWR) == -1 {
                        std::process::abort();
                    }
                }
            }
            signal(SIGPIPE, SIG_IGN);
        }
    }
}

// Elsewhere std's start-up is not needed for correctness: a closed pipe ends the run with
// SIGPIPE, as it ends most Unix tools.
#[cfg(not(target_os = "linux"))]
mod sys {
    #[cfg(unix)]
    pub use super::argv::args;

    pub fn init() {}

    /// Windows: the command line, which std reads without its start-up.
    #[cfg(not(unix))]
    pub unsafe fn args(
        _argc: std::ffi::c_int,
        _argv: *const *const std::ffi::c_char,
    ) -> Vec<std::ffi::OsString> {
        std::env::args_os().collect()
    }
}
