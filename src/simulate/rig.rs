//! A whole kiosk's surroundings on one machine: the central service simulator on
//! loopback (or an external service), the card reader and the printer simulated on
//! real pseudo-terminals, a config file pointing the daemon at them, and the kiosk
//! enrolled. The simulation, the touchscreen tests and the benchmarks start the daemon
//! on a rig; none of them needs a device or a network.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::NaiveDate;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::protocol::escpos::PaperWidth;
use crate::protocol::printer_profile::{PrinterModel, PrinterProfile};
use apm_kiosk_sim::central::{self as central_sim, CentralSim, SimSeed};
use apm_kiosk_sim::printer::{PrinterSim, PrinterSimHandle, PrinterSimOptions};
use apm_kiosk_sim::reader::{ReaderSim, ReaderSimHandle};

use super::{SIM_ENROLL_CODE, fill_one_day};

/// How the rig is set up.
#[derive(Debug, Clone)]
pub struct RigOptions {
    /// An external central service and its enrollment code, instead of the simulator.
    pub central: Option<(String, String)>,
    pub reader_baud: u32,
    pub printer_baud: u32,
    pub paper: PaperWidth,
    /// The printer played and configured (`printer.model`).
    pub printer_model: PrinterModel,
    /// The simulated head's speed in mm/s; `None`: the model's.
    pub printer_mm_per_s: Option<u32>,
    pub inactivity_warning_s: u32,
    pub inactivity_reset_s: u32,
}

impl Default for RigOptions {
    fn default() -> Self {
        RigOptions {
            central: None,
            reader_baud: 115_200,
            printer_baud: 115_200,
            paper: PaperWidth::Mm80,
            printer_model: PrinterModel::TmT20,
            printer_mm_per_s: None,
            inactivity_warning_s: 60,
            inactivity_reset_s: 20,
        }
    }
}

/// A kiosk's devices, service and config, ready for `app::run`.
pub struct Rig {
    pub config: Config,
    pub config_path: PathBuf,
    pub reader: ReaderSimHandle,
    pub printer: PrinterSimHandle,
    /// The built-in central simulator, when no external service was given.
    pub central: Option<LocalCentral>,
    /// The kiosk's state directory (`out/state`).
    pub state: PathBuf,
    /// Where the printer simulator puts the tickets as PNG (`out/tickets`).
    pub tickets: PathBuf,
}

impl Rig {
    /// Clears `out/state` and `out/tickets`, starts everything and enrolls the kiosk.
    /// `today` is the day whose third bookable successor the simulator fills, so that
    /// the calendar shows a full day.
    pub async fn start(out: &Path, opts: RigOptions, today: NaiveDate) -> anyhow::Result<Rig> {
        let state = out.join("state");
        let tickets = out.join("tickets");
        for dir in [&state, &tickets] {
            if dir.exists() {
                std::fs::remove_dir_all(dir)
                    .with_context(|| format!("cannot clear {}", dir.display()))?;
            }
        }
        std::fs::create_dir_all(&tickets)
            .with_context(|| format!("cannot create {}", tickets.display()))?;
        // Owner-only from the start, as the daemon keeps its state directory.
        crate::identity::ensure_private_dir(&state)?;

        // The central service: an external one, or the simulator on loopback.
        let mut central = None;
        let (central_url, enroll_code) = match &opts.central {
            Some((url, code)) => (url.clone(), code.clone()),
            None => {
                let db = out.join("central.db");
                for f in ["central.db", "central.db-wal", "central.db-shm"] {
                    let _ = std::fs::remove_file(out.join(f));
                }
                let sim =
                    CentralSim::open(&db, &SimSeed::default()).context("central simulator")?;
                sim.add_enroll_code(SIM_ENROLL_CODE, &["KRM", "BTM", "MKS"])?;
                fill_one_day(&sim, today)?;
                let c = LocalCentral::start(sim, "127.0.0.1:0".parse()?).await?;
                let url = format!("http://{}", c.addr);
                central = Some(c);
                (url, SIM_ENROLL_CODE.to_owned())
            }
        };

        // The devices, on real pseudo-terminals.
        let reader_link = state.join("reader.tty");
        let printer_link = state.join("printer.tty");
        let reader =
            ReaderSim::start(&reader_link, opts.reader_baud).context("simulated card reader")?;
        let width = opts.paper;
        let printer = PrinterSim::start(
            &printer_link,
            &tickets,
            PrinterSimOptions {
                profile: PrinterProfile::of(opts.printer_model, width),
                baud: Some(opts.printer_baud),
                head_mm_per_s: opts.printer_mm_per_s,
                ..PrinterSimOptions::default()
            },
        )
        .context("simulated printer")?;

        let config_path = write_config(&state, &central_url, &reader_link, &printer_link, &opts)?;
        let config = Config::load(&config_path)?;
        crate::sync::enroll::enroll(&config, &enroll_code)
            .await
            .context("enrollment")?;
        Ok(Rig {
            config,
            config_path,
            reader,
            printer,
            central,
            state,
            tickets,
        })
    }
}

/// A central simulator that can be stopped and started again on the same address.
pub struct LocalCentral {
    pub sim: CentralSim,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl LocalCentral {
    pub async fn start(sim: CentralSim, addr: SocketAddr) -> anyhow::Result<LocalCentral> {
        let mut c = LocalCentral {
            sim,
            addr,
            stop: None,
            task: None,
        };
        c.up().await?;
        Ok(c)
    }

    pub async fn up(&mut self) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .with_context(|| format!("central simulator cannot listen on {}", self.addr))?;
        self.addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let sim = self.sim.clone();
        self.task = Some(tokio::spawn(central_sim::serve(
            sim,
            listener,
            async move {
                let _ = rx.await;
            },
        )));
        self.stop = Some(tx);
        Ok(())
    }

    pub async fn down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

fn write_config(
    dir: &Path,
    central: &str,
    reader: &Path,
    printer: &Path,
    opts: &RigOptions,
) -> anyhow::Result<PathBuf> {
    let path = dir.join("kiosk.toml");
    let text = format!(
        r#"# Written by `apm-kiosk simulate`: a kiosk on simulated devices.
[kiosk]
state_dir = "{state}"
language = "id"
inactivity_warning_s = {warning}
inactivity_reset_s = {reset}

[card_reader]
path = "{reader}"
baud = {reader_baud}

[printer]
path = "{printer}"
baud = {printer_baud}
paper = "{paper}mm"
model = "{model}"

[central]
url = "{central}"
timeout_s = 5
sync_interval_s = 5

[sync]
hold_days = 6
low_water = 3
target = 6

[log]
level = "info"

# The simulator's offices: what the ticket prints that the central service does not send.
[offices.KRM]
address = "Jl. Jend. Sudirman No. 1, Tg. Balai Karimun"
hours = "Senin-Jumat 08.00-15.00"

[offices.BTM]
address = "Jl. Ahmad Yani, Batam Center, Batam"
hours = "Senin-Jumat 08.00-16.00"

[offices.MKS]
address = "Jl. Perintis Kemerdekaan Km. 13, Makassar"
hours = "Senin-Jumat 08.00-15.00"
"#,
        state = dir.display(),
        reader = reader.display(),
        printer = printer.display(),
        reader_baud = opts.reader_baud,
        printer_baud = opts.printer_baud,
        paper = opts.paper.mm(),
        model = opts.printer_model.code(),
        warning = opts.inactivity_warning_s,
        reset = opts.inactivity_reset_s,
    );
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
