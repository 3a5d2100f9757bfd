//! What the daemon is given to talk to the world ([`Parts`]): the card reader, a way to
//! open the printer, the central service's client, the control channel's listening
//! socket, the clock and the free space of the state's disk. [`Parts::from_config`] makes the real ones of a kiosk; a test
//! hands in fakes in memory (`apm-kiosk-testkit`'s) and runs the whole daemon on paused
//! time.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::UnixListener;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::control;
use crate::disk::{SharedDisk, StateDisk};
use crate::hardware::printer::{self as printer_hw, PrinterOpener};
use crate::hardware::reader::{CardReader, SerialReader};
use crate::sync::shared::{self, CentralOpener};

/// The daemon's connections to the world.
pub struct Parts {
    /// Run on its own thread (`hardware::reader::start`).
    pub reader: Box<dyn CardReader>,
    /// Opens the printer for the printer worker, again after each I/O error.
    pub printer: PrinterOpener,
    pub central: CentralOpener,
    /// The control channel's socket, bound; removed when the daemon stops.
    pub control: ControlSocket,
    /// The dates and times the flow, the store and the sync reason about.
    pub clock: SharedClock,
    /// The free space where the state lives (`disk_full` below its threshold).
    pub disk: SharedDisk,
}

impl Parts {
    /// A kiosk's own parts, as its config names them: the serial reader, the printer at
    /// `printer.path`, the HTTPS client of `central`, the socket at
    /// `kiosk.control_socket`, the system clock and `statvfs` of `kiosk.state_dir`.
    pub fn from_config(config: &Config) -> anyhow::Result<Parts> {
        let (path, baud) = (config.printer.path.clone(), config.printer.baud);
        Ok(Parts {
            reader: Box::new(SerialReader::new(
                config.card_reader.path.clone(),
                config.card_reader.baud,
            )),
            printer: printer_hw::opener(path, baud, config.printer.profile()),
            central: shared::http_opener(config.central.clone()),
            control: ControlSocket::bind(&config.kiosk.control_socket())?,
            clock: Arc::new(SystemClock),
            disk: Arc::new(StateDisk::new(config.kiosk.state_dir.clone())),
        })
    }
}

/// The control channel's listening socket and its path, which is removed when this is
/// dropped, so that no stale socket is left behind whichever way the daemon ends.
#[derive(Debug)]
pub struct ControlSocket {
    listener: Option<UnixListener>,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds `path` (a stale socket there is replaced), making its directory if needed.
    pub fn bind(path: &Path) -> anyhow::Result<ControlSocket> {
        // By default the socket is in the state directory: made owner-only, like it.
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| {
                    format!(
                        "cannot create the directory of the control socket {}",
                        dir.display()
                    )
                })?;
        }
        Ok(ControlSocket {
            listener: Some(control::bind(path)?),
            path: path.to_owned(),
        })
    }

    /// The listener, for the control channel's task; once.
    pub(super) fn take_listener(&mut self) -> anyhow::Result<UnixListener> {
        self.listener
            .take()
            .context("the control socket was handed over already")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
