//! The Rust peer: mailin-embedded (crates.io) with a handler that discards every message.
//!
//! ```text
//! cargo run --release -p smtp-benches --bin mailin-sink -- --listen 127.0.0.1:2527
//! ```
//!
//! mailin-embedded serves each connection on a thread of a fixed pool (`--threads`, its
//! maximum of concurrent sessions; connections beyond wait unanswered), reads line by line,
//! and logs through the `log` crate, to which no logger is attached here.

use clap::Parser;
use mailin_embedded::{Handler, Server, SslConfig};
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(about = "mailin-embedded with a handler that discards every message.")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:2527")]
    listen: SocketAddr,
    /// Size of the thread pool: the most connections served at once.
    #[arg(long, default_value_t = 64)]
    threads: u32,
}

/// Accepts everything (the trait's defaults) and throws the message away.
#[derive(Clone)]
struct Discard;

impl Handler for Discard {
    fn data(&mut self, _buf: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut server = Server::new(Discard);
    let configured = server
        .with_name("localhost")
        .with_num_threads(args.threads)
        .with_ssl(SslConfig::None)
        .and_then(|s| s.with_addr(args.listen));
    if let Err(e) = configured {
        eprintln!("mailin-sink: {e}");
        return ExitCode::FAILURE;
    }
    match server.serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailin-sink: {e}");
            ExitCode::FAILURE
        }
    }
}
