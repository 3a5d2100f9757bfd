//! The `apm-kiosk` command: the kiosk daemon, its simulation, the device and central
//! service simulators, and the tools a technician uses. Loads and checks the config,
//! picks real or simulated parts, and hands over to `app::run`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
#[cfg(feature = "sim")]
use apm_kiosk::config::LogLevel;
#[cfg(feature = "sim")]
use apm_kiosk::simulate;
use apm_kiosk::{app, config, doctor, identity, logging};
#[cfg(feature = "sim")]
use apm_kiosk_sim as sim;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "apm-kiosk",
    version,
    about = "Self-service passport queue kiosk (Anjungan Paspor Mandiri)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the kiosk daemon.
    Run {
        #[arg(long)]
        config: PathBuf,
        /// No display: the control channel (a Unix socket) takes the screen's place.
        #[arg(long)]
        headless: bool,
    },
    /// The main job: a whole kiosk on simulated devices and a simulated central
    /// service, a crowd of applicants, a summary and the tickets as PNG files.
    #[cfg(feature = "sim")]
    Simulate(simulate::SimulateArgs),
    /// Enroll this kiosk with a one-time code from the central office.
    Enroll {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        code: String,
    },
    /// Check an installed kiosk: config, devices, state, enrollment, clock, central
    /// service, display. OK/WARN/FAIL with what to fix; exits non-zero on a FAIL.
    Doctor(doctor::DoctorArgs),
    /// Ask the running daemon for its status over the control channel.
    Status {
        #[arg(long)]
        config: PathBuf,
    },
    /// The technician's tools, through the running daemon: status report, sync,
    /// reprint, out of service, diagnostics export, PIN, ...
    Maint(apm_kiosk::maint::cli::MaintArgs),
    /// Configuration file tools.
    Config {
        #[command(subcommand)]
        command: ConfigCmd,
    },
    /// Ticket tools.
    Ticket {
        #[command(subcommand)]
        command: TicketCmd,
    },
    /// Play a KTP card reader on a pseudo-terminal.
    #[cfg(feature = "sim")]
    ReaderSim(sim::reader::ReaderSimArgs),
    /// Play an ESC/POS printer on a pseudo-terminal, saving what it prints as PNG.
    #[cfg(feature = "sim")]
    PrinterSim(sim::printer::PrinterSimArgs),
    /// Run the central quota service simulator.
    #[cfg(feature = "sim")]
    CentralSim(sim::central::CentralSimArgs),
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Check a configuration file and say what is wrong, with its line.
    Check(config::ConfigCheckArgs),
}

#[derive(Subcommand)]
enum TicketCmd {
    /// Check a ticket's QR payload (APM2, or APM1 until its visit date) against the
    /// holder's NIK, the kiosk keys and the service's NIK hash key; says which it saw.
    Verify(identity::TicketVerifyArgs),
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves on SIGTERM or SIGINT.
async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("apm-kiosk: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `apm-kiosk run`: the daemon, headless or with its screen, until it stops.
fn run_daemon(config: &std::path::Path, headless: bool) -> anyhow::Result<ExitCode> {
    let config = config::Config::load(config)?;
    logging::init(config.log.level);
    // Not fatal: the kiosk books on against the numbers it holds; the sync says so in
    // the status until the file is there.
    if let Err(e) = config.check_files() {
        tracing::error!("{e}; the kiosk cannot sync until this is fixed");
    }
    let stopped = if headless {
        runtime()?.block_on(app::run(config, terminated()))?
    } else {
        apm_kiosk::ui::run(config, terminated(), app::start_for_screen)?
    };
    match stopped {
        app::Stopped::Shutdown => Ok(ExitCode::SUCCESS),
        // Non-zero on purpose: systemd starts the kiosk again.
        app::Stopped::Restart => Ok(ExitCode::from(apm_kiosk::maint::RESTART_EXIT_CODE)),
    }
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Cmd::Run { config, headless } => run_daemon(&config, headless),
        #[cfg(feature = "sim")]
        Cmd::Simulate(args) => {
            logging::init(LogLevel::Warn);
            let summary = runtime()?.block_on(simulate::run(args))?;
            summary.print();
            Ok(if summary.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Enroll { config, code } => {
            let config = config::Config::load(&config)?;
            logging::init(config.log.level);
            let e = runtime()?.block_on(apm_kiosk::sync::enroll::enroll(&config, &code))?;
            println!(
                "enrolled as {} for offices {}",
                e.kiosk_id,
                e.office_ids.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Doctor(args) => {
            let healthy = runtime()?.block_on(doctor::run_doctor(args))?;
            Ok(if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Status { config } => {
            let config = config::Config::load(&config)?;
            let socket = config.kiosk.control_socket();
            let status = runtime()?.block_on(async {
                let mut client =
                    apm_kiosk::control::Client::connect(&socket, std::time::Duration::from_secs(3))
                        .await?;
                client
                    .command(
                        apm_kiosk::control::Command::Status,
                        std::time::Duration::from_secs(5),
                    )
                    .await
            })?;
            println!("{}", serde_json::to_string_pretty(&status)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Maint(args) => apm_kiosk::maint::cli::run(args, &runtime()?),
        Cmd::Config {
            command: ConfigCmd::Check(args),
        } => {
            config::run_config_check(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Ticket {
            command: TicketCmd::Verify(args),
        } => {
            identity::run_ticket_verify(args)?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "sim")]
        Cmd::ReaderSim(args) => {
            logging::init(LogLevel::Info);
            sim::reader::run_reader_sim(args)?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "sim")]
        Cmd::PrinterSim(args) => {
            logging::init(LogLevel::Info);
            sim::printer::run_printer_sim(args)?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "sim")]
        Cmd::CentralSim(args) => {
            logging::init(LogLevel::Info);
            runtime()?.block_on(sim::central::run_central_sim(args))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
