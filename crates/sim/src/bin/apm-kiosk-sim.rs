//! `apm-kiosk-sim`: the simulators on their own, without the daemon, for a machine that
//! has only the appliance package (its install test plugs them in) or a developer who
//! wants a device on a pseudo-terminal. The same commands as `apm-kiosk reader-sim`,
//! `printer-sim` and `central-sim` in a development build.

use std::process::ExitCode;

use apm_kiosk_sim::{central, printer, reader};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "apm-kiosk-sim",
    version,
    about = "Simulators of the APM kiosk's devices and central service"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Play a KTP card reader on a pseudo-terminal.
    Reader(reader::ReaderSimArgs),
    /// Play an ESC/POS printer on a pseudo-terminal, saving what it prints as PNG.
    Printer(printer::PrinterSimArgs),
    /// Run the central quota service simulator.
    Central(central::CentralSimArgs),
}

fn main() -> ExitCode {
    // What the simulators did, on stderr; stdout stays the simulators' console.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let result = match Cli::parse().command {
        Cmd::Reader(args) => reader::run_reader_sim(args),
        Cmd::Printer(args) => printer::run_printer_sim(args),
        Cmd::Central(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(central::run_central_sim(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apm-kiosk-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}
