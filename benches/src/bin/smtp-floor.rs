//! The floor sink: what an SMTP sink must do at the least (see `smtp_benches::floor`).
//!
//! ```text
//! cargo run --release -p smtp-benches --bin smtp-floor -- --listen 127.0.0.1:2526
//! cargo run --release -p smtp-benches --bin smtp-floor -- --listen 127.0.0.1:2526 --threads
//! ```
//!
//! By default on tokio's multi-threaded runtime, a task per connection (smtp-tokio's IO
//! model); with `--threads`, a thread per connection (smtp-blocking's).

use clap::Parser;
use smtp_benches::floor;
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(about = "The floor SMTP sink: splits lines, answers by verb, scans for CRLF.CRLF.")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:2526")]
    listen: SocketAddr,
    /// A thread per connection instead of tokio tasks.
    #[arg(long)]
    threads: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.threads {
        true => std::net::TcpListener::bind(args.listen).and_then(floor::serve_threads),
        false => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .and_then(|rt| {
                rt.block_on(async {
                    let listener = tokio::net::TcpListener::bind(args.listen).await?;
                    floor::serve_tokio(listener).await
                })
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smtp-floor: {e}");
            ExitCode::FAILURE
        }
    }
}
