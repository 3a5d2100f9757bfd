//! The kiosk in a real window on an X server (Xvfb), as under a desktop or cage: the
//! daemon and its touchscreen run as `apm-kiosk run` runs them (the Slint event loop on
//! this process's main thread, winit with the software renderer), on a rig of simulated
//! devices and the central simulator. A booking is made with synthetic taps sent
//! through the X server (xdotool), and the screen is captured from the X server after
//! every step (ImageMagick's `import`) into `target/xvfb-booking/`.
//!
//! Needs `Xvfb`, `xdotool` and `import` (Debian: xvfb, xdotool, imagemagick; `.ci/deps`
//! installs them). Without them it says so and passes: the headless UI tests cover the
//! flow; this one covers the real window and the real input path.

mod ui_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use apm_kiosk::simulate::card_of;
use apm_kiosk::simulate::rig::{Rig, RigOptions};
use apm_kiosk::ui::{self, Flow, KioskWindow, Screen};
use chrono::Utc;
use slint::{ComponentHandle, Model as _, Weak};

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
}

struct Xvfb(Child);

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_xvfb(display: u32) -> Xvfb {
    let child = Command::new("Xvfb")
        .arg(format!(":{display}"))
        .args([
            "-screen",
            "0",
            "1080x1920x24",
            "-nolisten",
            "tcp",
            "-noreset",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb starts");
    let socket = PathBuf::from(format!("/tmp/.X11-unix/X{display}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "Xvfb did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    Xvfb(child)
}

/// Runs `f` on the event loop's thread and returns its answer.
fn on_ui<T: Send + 'static>(
    weak: &Weak<KioskWindow>,
    f: impl FnOnce(&KioskWindow) -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    weak.upgrade_in_event_loop(move |ui| {
        let _ = tx.send(f(&ui));
    })
    .expect("the event loop runs");
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the event loop answers")
}

/// The person's side: taps through X, and a picture of each step.
struct Person {
    weak: Weak<KioskWindow>,
    out: PathBuf,
    step: usize,
    /// Where the pointer was last moved to.
    pointer: std::cell::Cell<(i64, i64)>,
}

impl Person {
    fn screen(&self) -> Screen {
        on_ui(&self.weak, |ui| ui.global::<Flow>().get_screen())
    }

    fn wait_screen(&self, screen: Screen) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.screen() != screen {
            assert!(
                Instant::now() < deadline,
                "waited for {screen:?}; the screen is {:?}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Let the frame reach the X server.
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Taps the middle of the element with this accessible label, through the X server,
    /// the page scrolled first to bring it into view (as a person scrolls down a page
    /// taller than the screen, the child's keypad's last rows among them).
    fn tap(&self, label: &str) {
        let owned = label.to_owned();
        let scrolled = on_ui(&self.weak, move |ui| {
            let before = ui.global::<Flow>().get_scroll_y();
            ui_support::scroll_into_view(ui, &owned);
            ui.global::<Flow>().get_scroll_y() != before
        });
        if scrolled {
            // Let the scrolled frame reach the X server.
            std::thread::sleep(Duration::from_millis(300));
        }
        let owned = label.to_owned();
        let (x, y) = on_ui(&self.weak, move |ui| {
            let e = ui_support::find(ui, &owned);
            let (p, s) = (e.absolute_position(), e.size());
            (p.x + s.width / 2.0, p.y + s.height / 2.0)
        });
        let to = (x.round() as i64, y.round() as i64);
        // `mousemove --sync` waits for the pointer to move: to the place it already is
        // (the same key twice), it would wait for nothing. Click there at once instead.
        let mut xdotool = Command::new("xdotool");
        if self.pointer.replace(to) != to {
            xdotool
                .args(["mousemove", "--sync"])
                .arg(to.0.to_string())
                .arg(to.1.to_string());
        }
        let ok = xdotool.args(["click", "1"]).status().expect("xdotool runs");
        assert!(ok.success(), "xdotool could not tap {label:?}");
    }

    fn tap_to(&self, label: &str, screen: Screen) {
        self.tap(label);
        self.wait_screen(screen);
    }

    /// The X server's picture of the screen, as a person would see it.
    fn shot(&mut self, name: &str) {
        self.step += 1;
        let path = self.out.join(format!("{:02}-{name}.png", self.step));
        let ok = Command::new("import")
            .args(["-window", "root"])
            .arg(&path)
            .status()
            .expect("import runs");
        assert!(ok.success(), "import could not capture {}", path.display());
    }
}

fn book(person: &mut Person, rig_reader: &apm_kiosk_sim::reader::ReaderSimHandle) {
    let (lead, second, child) = ui_support::family(Utc::now().date_naive());
    person.wait_screen(Screen::Idle);
    person.shot("idle");
    person.tap_to("Mulai", Screen::ReadCard);
    person.shot("card");
    rig_reader.present_card(card_of(&lead));
    person.wait_screen(Screen::ConfirmIdentity);
    rig_reader.remove_card();
    person.shot("confirm");
    person.tap_to("Ya, data ini benar", Screen::Details);
    person.tap("Paspor baru");
    person.tap("Paspor elektronik");
    std::thread::sleep(Duration::from_millis(300));
    person.shot("details");
    person.tap_to("Lanjut", Screen::Members);
    person.tap_to("Tambah anggota keluarga", Screen::ReadCard);
    rig_reader.present_card(card_of(&second));
    person.wait_screen(Screen::ConfirmIdentity);
    rig_reader.remove_card();
    person.tap_to("Ya, data ini benar", Screen::Details);
    person.tap("Penggantian paspor habis berlaku atau penuh");
    person.tap("Paspor biasa 48 halaman");
    std::thread::sleep(Duration::from_millis(300));
    person.tap_to("Lanjut", Screen::Members);
    person.tap_to("Tambah anak", Screen::ManualNik);
    for d in child.nik.chars().chain(child.kk.chars()) {
        person.tap(&d.to_string());
    }
    std::thread::sleep(Duration::from_millis(300));
    person.shot("keypad-child");
    person.tap_to("Lanjut", Screen::ConfirmIdentity);
    person.tap_to("Ya, data ini benar", Screen::Details);
    person.tap("Paspor baru");
    person.tap("Paspor biasa 48 halaman");
    std::thread::sleep(Duration::from_millis(300));
    person.tap_to("Lanjut", Screen::Members);
    person.shot("members");
    person.tap_to("Lanjut dengan 3 pemohon", Screen::Office);
    person.shot("office");
    person.tap_to(
        "Kantor Imigrasi Kelas II TPI Tanjung Balai Karimun",
        Screen::Date,
    );
    person.shot("date");
    let day = on_ui(&person.weak, |ui| {
        ui.global::<Flow>()
            .get_days()
            .iter()
            .find(|d| d.status == ui::DayState::Open)
            .map(|d| d.label.to_string())
    })
    .expect("an open day");
    person.tap_to(&day, Screen::Session);
    person.shot("session");
    let session = on_ui(&person.weak, |ui| {
        ui.global::<Flow>()
            .get_sessions()
            .iter()
            .find(|s| s.bookable)
            .map(|s| s.label.to_string())
    })
    .expect("a session with room");
    person.tap_to(&session, Screen::Review);
    person.shot("review");
    person.tap("Konfirmasi dan cetak tiket");
    person.wait_screen(Screen::Done);
    person.shot("done");
    person.tap_to("Selesai", Screen::Idle);
    person.shot("idle-again");
}

fn main() {
    let missing: Vec<&str> = ["Xvfb", "xdotool", "import"]
        .into_iter()
        .filter(|c| !on_path(c))
        .collect();
    if !missing.is_empty() {
        println!(
            "xvfb_booking: skipped, not installed: {} (bash .ci/deps installs them)",
            missing.join(", ")
        );
        return;
    }
    let display = 90 + (std::process::id() % 9);
    let _xvfb = start_xvfb(display);
    // SAFETY: set before any other thread of this process starts.
    unsafe {
        std::env::set_var("DISPLAY", format!(":{display}"));
        std::env::set_var("SLINT_BACKEND", "winit-software");
        std::env::set_var("SLINT_SCALE_FACTOR", "1");
        std::env::remove_var("WAYLAND_DISPLAY");
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|p| p.join("xvfb-booking"))
        .unwrap_or_else(|| PathBuf::from("target/xvfb-booking"));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("output directory");

    let (_rt, _dir, rig) = ui_support::rig(RigOptions::default());
    let Rig {
        config,
        reader,
        printer,
        central: _central,
        ..
    } = rig;
    let (done_tx, done_rx) = mpsc::channel::<Result<(), String>>();
    let started = Instant::now();
    let result = ui::run_with(
        config,
        std::future::pending(),
        apm_kiosk::app::start_for_screen,
        move |ui| {
            println!(
                "xvfb_booking: window up {:.0} ms after start",
                started.elapsed().as_secs_f64() * 1000.0
            );
            let weak = ui.as_weak();
            std::thread::spawn(move || {
                let mut person = Person {
                    weak,
                    out,
                    step: 0,
                    pointer: std::cell::Cell::new((-1, -1)),
                };
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    book(&mut person, &reader)
                }))
                .map_err(|e| {
                    e.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "the booking failed".into())
                });
                let _ = done_tx.send(outcome);
                let _ = slint::invoke_from_event_loop(|| {
                    let _ = slint::quit_event_loop();
                });
            });
        },
    );
    result.expect("the kiosk ran");
    match done_rx.recv_timeout(Duration::from_secs(5)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{e}"),
        Err(_) => panic!("the booking did not finish"),
    }
    let printed = Instant::now();
    while printer.tickets().len() < 3 && printed.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(printer.tickets().len(), 3, "three tickets printed");
    println!(
        "xvfb_booking: a family of three booked by synthetic taps in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
