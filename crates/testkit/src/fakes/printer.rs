//! [`FakePrinter`]: a ticket printer in memory behind the kiosk's [`TicketPrinter`].
//! Its state is whatever the test sets; its roll may run out after so many bytes (the
//! job is then cut there and the state turns `PaperOut`, as a real printer stops
//! mid-ticket); every job is recorded with whether it came out whole. A clone is the
//! same printer, so a test keeps one while the code under test owns another.
//!
//! The bytes are not interpreted: what a job looks like on paper is the simulator's
//! (`apm_kiosk_sim::printer`) to say.

use std::sync::{Arc, Mutex, MutexGuard};

use apm_kiosk::hardware::printer::{PrinterError, PrinterState, TicketPrinter};
use apm_kiosk::protocol::escpos::Job;

/// One job as the printer received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintedJob {
    /// The bytes that reached the paper: all of the job, or those before the roll ran
    /// out.
    pub bytes: Vec<u8>,
    /// The whole job came out.
    pub whole: bool,
}

struct State {
    state: PrinterState,
    /// Bytes left on the roll; `None`: a roll that never ends.
    paper_left: Option<usize>,
    /// Status queries and jobs fail as an unplugged cable makes them fail.
    unplugged: bool,
    jobs: Vec<PrintedJob>,
    status_queries: usize,
}

#[derive(Clone)]
pub struct FakePrinter {
    state: Arc<Mutex<State>>,
}

impl Default for FakePrinter {
    fn default() -> FakePrinter {
        FakePrinter::new()
    }
}

impl FakePrinter {
    /// A printer that is ready and has an endless roll.
    pub fn new() -> FakePrinter {
        FakePrinter {
            state: Arc::new(Mutex::new(State {
                state: PrinterState::Ok,
                paper_left: None,
                unplugged: false,
                jobs: Vec::new(),
                status_queries: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What the next status queries answer.
    pub fn set_state(&self, state: PrinterState) {
        self.lock().state = state;
    }

    /// The roll runs out after `bytes` more bytes.
    pub fn paper_out_after(&self, bytes: usize) {
        self.lock().paper_left = Some(bytes);
    }

    /// A new, endless roll: the printer is ready again.
    pub fn load_paper(&self) {
        let mut s = self.lock();
        s.paper_left = None;
        s.state = PrinterState::Ok;
    }

    /// Unplugs (`true`) or plugs back the cable: unplugged, every call is an I/O error.
    pub fn set_unplugged(&self, unplugged: bool) {
        self.lock().unplugged = unplugged;
    }

    /// Every job received, in order.
    pub fn jobs(&self) -> Vec<PrintedJob> {
        self.lock().jobs.clone()
    }

    /// How many status queries were answered or refused.
    pub fn status_queries(&self) -> usize {
        self.lock().status_queries
    }

    /// The printer as the kiosk opens it.
    pub fn boxed(&self) -> Box<dyn TicketPrinter> {
        Box::new(self.clone())
    }
}

fn unplugged() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "fake printer unplugged")
}

impl TicketPrinter for FakePrinter {
    fn status(&mut self) -> Result<PrinterState, PrinterError> {
        let mut s = self.lock();
        s.status_queries += 1;
        if s.unplugged {
            return Err(PrinterError::Read {
                path: "fake".into(),
                source: unplugged(),
            });
        }
        Ok(s.state)
    }

    fn send_job(&mut self, job: &Job) -> Result<PrinterState, PrinterError> {
        {
            let mut s = self.lock();
            if s.unplugged {
                return Err(PrinterError::Write {
                    path: "fake".into(),
                    source: unplugged(),
                });
            }
            let printed = match s.paper_left {
                Some(left) if left < job.len() => {
                    s.paper_left = Some(0);
                    s.state = PrinterState::PaperOut;
                    left
                }
                Some(left) => {
                    s.paper_left = Some(left - job.len());
                    job.len()
                }
                None => job.len(),
            };
            s.jobs.push(PrintedJob {
                bytes: job[..printed].to_vec(),
                whole: printed == job.len(),
            });
        }
        self.status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(bytes: &[u8]) -> Job {
        Job {
            bytes: bytes.to_vec(),
            length_dots: 30,
        }
    }

    #[test]
    fn the_roll_runs_out_mid_job_and_a_new_one_prints_whole() {
        let printer = FakePrinter::new();
        let mut device = printer.boxed();
        printer.paper_out_after(10);
        assert_eq!(
            device.print(&job(&[1; 6])).expect("printed"),
            PrinterState::Ok
        );
        assert_eq!(
            device.print(&job(&[2; 6])).expect("answered"),
            PrinterState::PaperOut
        );
        // Out of paper: the next job is not sent at all.
        assert_eq!(
            device.print(&job(&[3; 6])).expect("answered"),
            PrinterState::PaperOut
        );
        printer.load_paper();
        assert_eq!(
            device.print(&job(&[4; 6])).expect("printed"),
            PrinterState::Ok
        );
        let jobs = printer.jobs();
        let shapes: Vec<(u8, usize, bool)> = jobs
            .iter()
            .map(|j| (j.bytes[0], j.bytes.len(), j.whole))
            .collect();
        assert_eq!(shapes, [(1, 6, true), (2, 4, false), (4, 6, true)]);
    }

    #[test]
    fn unplugged_is_an_error_not_a_state() {
        let printer = FakePrinter::new();
        let mut device = printer.boxed();
        printer.set_unplugged(true);
        assert!(device.status().is_err());
        assert!(device.send_job(&job(b"x")).is_err());
        assert!(printer.jobs().is_empty());
    }
}
