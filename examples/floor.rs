//! The process floor of the benchmark (scripts/bench): a minimal Rust binary that prints a fixed
//! 5 KB file, built with the same release profile as sts-gen. Nothing a generator does can start
//! and write faster than this.

use std::io::Write;

static FILE: [u8; 5 * 1024] = [b'#'; 5 * 1024];

fn main() {
    std::io::stdout()
        .lock()
        .write_all(&FILE)
        .expect("stdout is writable");
}
