//! Our adapters with a handler of the least work: accept everything, read the body chunk by
//! chunk and drop it. Unlike the example servers (`smtpd --discard`, `smtpd-blocking
//! --discard`), it keeps no envelope and formats no log fields, and its connection cap is a
//! flag (the examples keep the adapters' default of 1000, too few for the 10,000 idle
//! connections of issue 8).
//!
//! ```text
//! cargo run --release -p smtp-benches --bin smtp-sink -- --adapter tokio --listen 127.0.0.1:2528
//! cargo run --release -p smtp-benches --bin smtp-sink -- --adapter blocking --listen 127.0.0.1:2528
//! ```
//!
//! No logger is installed: nothing is logged.

use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Adapter {
    Tokio,
    Blocking,
}

#[derive(Parser, Debug)]
#[command(about = "smtp-tokio or smtp-blocking with a handler that discards every message.")]
struct Args {
    /// Which adapter serves.
    #[arg(long, value_enum, default_value = "tokio")]
    adapter: Adapter,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:2528")]
    listen: SocketAddr,
    /// Connections served at once.
    #[arg(long, default_value_t = 20_000)]
    max_connections: usize,
    /// Largest message in octets; 0 for no limit.
    #[arg(long, default_value_t = 0)]
    max_size: u64,
}

#[derive(Clone)]
struct TokioSink;

impl smtp_tokio::Handler for TokioSink {
    async fn data(
        &mut self,
        mut body: smtp_tokio::Body,
    ) -> Result<smtp_tokio::Decision, smtp_tokio::Error> {
        while body.chunk().await?.is_some() {}
        Ok(smtp_tokio::Decision::Accept)
    }
}

#[derive(Clone)]
struct BlockingSink;

impl smtp_blocking::Handler for BlockingSink {
    fn data(
        &mut self,
        body: &mut smtp_blocking::Body<'_>,
    ) -> Result<smtp_blocking::Decision, smtp_blocking::Error> {
        while body.chunk()?.is_some() {}
        Ok(smtp_blocking::Decision::Accept)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.adapter {
        Adapter::Tokio => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .and_then(|rt| {
                rt.block_on(async {
                    smtp_tokio::Server::builder()
                        .hostname("localhost")
                        .max_message_size(args.max_size)
                        .max_connections(args.max_connections)
                        .bind(args.listen)
                        .build()
                        .await?
                        .serve(TokioSink)
                        .await
                })
            }),
        Adapter::Blocking => smtp_blocking::Server::builder()
            .hostname("localhost")
            .max_message_size(args.max_size)
            .max_connections(args.max_connections)
            .bind(args.listen)
            .build()
            .and_then(|server| server.serve(BlockingSink)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smtp-sink: {e}");
            ExitCode::FAILURE
        }
    }
}
