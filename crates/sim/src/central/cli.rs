//! `apm-kiosk central-sim`: runs the simulator until Ctrl-C (or SIGTERM). The
//! subcommand's place in `main.rs` is the integrator's.
//!
//! `--enroll-code CODE` makes CODE valid for every seeded office; `CODE=KRM,BTM` limits
//! it to those offices. A code already used in an existing database is reported and
//! skipped, so the same command line can start the simulator again.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use super::{CentralSim, Faults, SimError, SimSeed};

#[derive(Debug, Clone, clap::Args)]
pub struct CentralSimArgs {
    /// Address to listen on. Plain HTTP: keep it on loopback.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8700")]
    pub listen: SocketAddr,
    /// The simulator's SQLite database (created and seeded when missing).
    #[arg(long, value_name = "FILE", default_value = "central-sim.sqlite")]
    pub db: PathBuf,
    /// A one-time enrollment code, `CODE` or `CODE=OFFICE,OFFICE`. Repeatable.
    #[arg(long = "enroll-code", value_name = "CODE")]
    pub enroll_codes: Vec<String>,
    /// Share of requests answered 500 or 503, from 0 to 1.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub fault_server_errors: f64,
    /// Share of requests answered 429.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub fault_throttle: f64,
    /// Retry-After of 429 and 503 answers, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1)]
    pub fault_retry_after: u64,
    /// Up to this much added latency per request, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub fault_latency_ms: u64,
    /// Share of connections dropped before answering.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub fault_drop: f64,
    /// Share of answers cut off mid-JSON.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub fault_truncate: f64,
    /// Seed of the fault RNG, to repeat a run.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fault_seed: u64,
    /// Run as a service without version 1.1: availability, find, cancel, reschedule and
    /// arrivals answer 404.
    #[arg(long)]
    pub without_v1_1: bool,
}

impl CentralSimArgs {
    fn faults(&self) -> anyhow::Result<Faults> {
        let rates = [
            ("--fault-server-errors", self.fault_server_errors),
            ("--fault-throttle", self.fault_throttle),
            ("--fault-drop", self.fault_drop),
            ("--fault-truncate", self.fault_truncate),
        ];
        for (flag, rate) in rates {
            anyhow::ensure!(
                (0.0..=1.0).contains(&rate),
                "{flag} must be between 0 and 1, not {rate}"
            );
        }
        let total: f64 = rates.iter().map(|(_, r)| r).sum();
        anyhow::ensure!(total <= 1.0, "fault rates add up to {total}, more than 1");
        Ok(Faults {
            server_error_rate: self.fault_server_errors,
            throttle_rate: self.fault_throttle,
            retry_after: Duration::from_secs(self.fault_retry_after),
            max_latency: Duration::from_millis(self.fault_latency_ms),
            drop_rate: self.fault_drop,
            truncate_rate: self.fault_truncate,
            seed: self.fault_seed,
            without_v1_1: self.without_v1_1,
            ..Faults::default()
        })
    }
}

/// Runs the simulator until Ctrl-C or SIGTERM.
pub async fn run_central_sim(args: CentralSimArgs) -> anyhow::Result<()> {
    let faults = args.faults()?;
    let seed = SimSeed::default();
    let sim = CentralSim::open(&args.db, &seed)
        .with_context(|| format!("opening simulator database {}", args.db.display()))?;
    let all_offices: Vec<&str> = seed
        .offices
        .iter()
        .map(|o| o.office.office_id.as_str())
        .collect();
    for spec in &args.enroll_codes {
        let (code, offices) = parse_enroll_code(spec, &all_offices)?;
        match sim.add_enroll_code(code, &offices) {
            Ok(()) => tracing::info!(offices = ?offices, "enrollment code ready"),
            Err(SimError::CodeUsed) => {
                tracing::warn!("an enrollment code given was already used; skipped");
            }
            Err(e) => return Err(e).context("adding an enrollment code"),
        }
    }
    sim.set_faults(faults);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    if !args.listen.ip().is_loopback() {
        tracing::warn!(addr = %args.listen, "central simulator serves plain HTTP beyond loopback; kiosks will refuse it");
    }
    tracing::info!(addr = %listener.local_addr()?, "central simulator listening");
    super::serve(sim, listener, shutdown_signal())
        .await
        .context("serving the central simulator")?;
    tracing::info!("central simulator stopped");
    Ok(())
}

/// `CODE` (every office in `all`) or `CODE=KRM,BTM`.
fn parse_enroll_code<'a>(
    spec: &'a str,
    all: &[&'a str],
) -> anyhow::Result<(&'a str, Vec<&'a str>)> {
    let (code, offices) = match spec.split_once('=') {
        Some((code, list)) => (
            code.trim(),
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>(),
        ),
        None => (spec.trim(), all.to_vec()),
    };
    anyhow::ensure!(!code.is_empty(), "empty enrollment code in {spec:?}");
    anyhow::ensure!(
        !offices.is_empty(),
        "enrollment code without offices in {spec:?}"
    );
    Ok((code, offices))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot wait for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot wait for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: CentralSimArgs,
    }

    fn parse(argv: &[&str]) -> anyhow::Result<CentralSimArgs> {
        let mut full = vec!["central-sim"];
        full.extend_from_slice(argv);
        Ok(Cli::try_parse_from(full)?.args)
    }

    #[test]
    fn enroll_codes_name_their_offices_or_take_all() {
        let all = ["KRM", "BTM", "MKS"];
        type Parsed<'a> = Option<(&'a str, Vec<&'a str>)>;
        let cases: [(&str, Parsed); 5] = [
            ("7K2M-9QXD", Some(("7K2M-9QXD", vec!["KRM", "BTM", "MKS"]))),
            ("A=KRM", Some(("A", vec!["KRM"]))),
            ("A=KRM, BTM", Some(("A", vec!["KRM", "BTM"]))),
            ("=KRM", None),
            ("A=", None),
        ];
        for (spec, want) in cases {
            assert_eq!(parse_enroll_code(spec, &all).ok(), want, "{spec}");
        }
    }

    #[test]
    fn flags_and_fault_rates() {
        let args = parse(&[]).expect("defaults");
        assert_eq!(args.listen.to_string(), "127.0.0.1:8700");
        assert_eq!(args.faults().expect("no faults"), Faults::default());

        let args = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--db",
            "/tmp/x.sqlite",
            "--enroll-code",
            "A",
            "--enroll-code",
            "B=KRM",
            "--fault-server-errors",
            "0.1",
            "--fault-latency-ms",
            "250",
            "--fault-seed",
            "9",
        ])
        .expect("parses");
        assert_eq!(args.enroll_codes, ["A", "B=KRM"]);
        let faults = args.faults().expect("valid");
        assert_eq!(faults.server_error_rate, 0.1);
        assert_eq!(faults.max_latency, Duration::from_millis(250));
        assert_eq!(faults.seed, 9);

        let bad = [
            vec!["--fault-drop", "1.5"],
            vec!["--fault-drop=-0.1"],
            vec!["--fault-drop", "0.6", "--fault-truncate", "0.6"],
        ];
        for argv in bad {
            let args = parse(&argv).expect("parses");
            assert!(args.faults().is_err(), "{argv:?}");
        }
    }
}
