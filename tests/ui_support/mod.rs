//! What the touchscreen tests share: a headless Slint platform per test thread (the
//! testing backend with the software renderer, on mock time), taps on elements found by
//! their accessible labels, screenshots to PNG, and invented applicants.

#![allow(dead_code)]

pub mod on_fakes;

use std::path::Path;

use apm_kiosk::simulate::crowd::{Crowd, Entry, Person};
use apm_kiosk::simulate::rig::{Rig, RigOptions};
use apm_kiosk::ui::KioskWindow;
use chrono::NaiveDate;
use i_slint_backend_testing::{ElementHandle, TestingBackend, TestingBackendOptions};
use slint::ComponentHandle;
use slint::platform::PointerEventButton;

/// Installs the headless platform on this thread: each test thread has its own.
pub fn init() {
    slint::platform::set_platform(Box::new(TestingBackend::new(TestingBackendOptions {
        mock_time: true,
        threading: false,
        renderer_name: Some("software".into()),
    })))
    .expect("no platform yet on this test thread");
}

/// The headless platform with an event queue, for what other threads and tasks hand
/// to the window (`upgrade_in_event_loop`, as the maintenance menu's answers come):
/// one such platform per process, so for a test binary of one test.
pub fn init_with_queue() {
    slint::platform::set_platform(Box::new(TestingBackend::new(TestingBackendOptions {
        mock_time: true,
        threading: true,
        renderer_name: Some("software".into()),
    })))
    .expect("no platform yet in this process");
}

/// A kiosk window at a panel's size, shown.
pub fn window(width: f32, height: f32) -> KioskWindow {
    let ui = KioskWindow::new().expect("the window builds");
    ui.window().set_size(slint::LogicalSize::new(width, height));
    ui.show().expect("the window shows");
    ui
}

/// The element with this accessible label that a person could tap now: exactly one
/// visible, enabled element must carry it.
pub fn find(ui: &KioskWindow, label: &str) -> ElementHandle {
    let mut found: Vec<ElementHandle> = ElementHandle::find_by_accessible_label(ui, label)
        .filter(|e| e.is_valid() && e.computed_opacity() > 0.0 && e.size().width > 0.0)
        .collect();
    // A button's text is labelled like the button: the button is what is tapped.
    if found.len() > 1 {
        found.retain(|e| {
            matches!(
                e.accessible_role(),
                Some(i_slint_backend_testing::AccessibleRole::Button)
            )
        });
    }
    match found.len() {
        1 => found.into_iter().next().expect("one element"),
        0 => {
            use i_slint_backend_testing::ElementRoot as _;
            let buttons: Vec<String> = ui
                .root_element()
                .query_descendants()
                .match_accessible_role(i_slint_backend_testing::AccessibleRole::Button)
                .find_all()
                .iter()
                .filter_map(|e| e.accessible_label().map(|l| l.to_string()))
                .collect();
            panic!(
                "nothing labelled {label:?} on screen {:?}; the buttons: {buttons:?}",
                ui.global::<apm_kiosk::ui::Flow>().get_screen()
            )
        }
        n => panic!("{n} elements labelled {label:?}"),
    }
}

/// Room the "more below" strip takes at the foot of the page band.
const STRIP: f32 = 120.0;

/// Scrolls the page as a person would, until the element labelled `label` on it is in
/// view above the "more below" strip (a tap on an element under the strip lands on the
/// strip). Elements outside the page (header, footer, panels over it) stay as they are.
pub fn scroll_into_view(ui: &KioskWindow, label: &str) {
    let by_id = |id: &str| ElementHandle::find_by_element_id(ui, id).next();
    let (Some(band), Some(page)) = (by_id("KioskWindow::pages"), by_id("KioskWindow::page")) else {
        return;
    };
    let wanted = label.to_owned();
    let on_page = page
        .query_descendants()
        .match_predicate(move |e| e.accessible_label().is_some_and(|l| l == wanted.as_str()))
        .find_all()
        .into_iter()
        .next();
    let Some(e) = on_page else {
        return;
    };
    let (top, height) = (band.absolute_position().y, band.size().height);
    let (y, h) = (e.absolute_position().y, e.size().height);
    let flow = ui.global::<apm_kiosk::ui::Flow>();
    let more_below = page.size().height > height + 1.0;
    let bottom = top + height - if more_below { STRIP } else { 0.0 };
    let lowest = (height - page.size().height).min(0.0);
    if y + h > bottom {
        flow.set_scroll_y((flow.get_scroll_y() - (y + h - bottom)).max(lowest));
    } else if y < top {
        flow.set_scroll_y((flow.get_scroll_y() + (top - y)).min(0.0));
    }
}

/// A tap at the middle of the element labelled `label`, scrolled into view first. A
/// frame's worth of the window's time passes first, as it does before a person's
/// finger lands: what a page's change handlers set (its height, hence where its parts
/// are) takes effect.
pub fn tap(ui: &KioskWindow, label: &str) {
    i_slint_backend_testing::mock_elapsed_time(std::time::Duration::from_millis(20));
    scroll_into_view(ui, label);
    let e = find(ui, label);
    assert_ne!(
        e.accessible_enabled(),
        Some(false),
        "{label:?} is disabled on {:?}",
        ui.global::<apm_kiosk::ui::Flow>().get_screen()
    );
    e.mock_single_click(PointerEventButton::Left);
}

/// Whether an element with this label is on screen.
pub fn shows(ui: &KioskWindow, label: &str) -> bool {
    ElementHandle::find_by_accessible_label(ui, label)
        .any(|e| e.is_valid() && e.computed_opacity() > 0.0 && e.size().width > 0.0)
}

/// Types digits on the keypad.
pub fn type_digits(ui: &KioskWindow, digits: &str) {
    for d in digits.chars() {
        tap(ui, &d.to_string());
    }
}

/// Renders the window and writes it as a PNG.
pub fn screenshot(ui: &KioskWindow, path: &Path) {
    // Let animations reach a steady frame, and what the frame's change handlers set
    // (the page's height, for its scrolling) take effect.
    i_slint_backend_testing::mock_elapsed_time(std::time::Duration::from_millis(600));
    i_slint_backend_testing::mock_elapsed_time(std::time::Duration::from_millis(20));
    screenshot_no_mock(ui, path);
}

/// [`screenshot`] on a platform that runs on the system's clock.
pub fn screenshot_no_mock(ui: &KioskWindow, path: &Path) {
    let shot = ui
        .window()
        .take_snapshot()
        .expect("the software renderer draws");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("screenshot directory");
    }
    let file = std::fs::File::create(path).expect("screenshot file");
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), shot.width(), shot.height());
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut w = enc.write_header().expect("png header");
    w.write_image_data(shot.as_bytes()).expect("png data");
}

/// A family from the invented crowd: a lead under 60 and a second adult of 60 or over
/// (priority by age) with their own KTP, and a child under 5 (priority too) entered by
/// NIK and KK: one regular place and two priority ones.
pub fn family(today: NaiveDate) -> (Person, Person, Person) {
    let mut crowd = Crowd::new(11, today);
    let visits = crowd.visits(200);
    let age = |p: &Person| today.years_since(p.birth_date).unwrap_or(0);
    let people: Vec<&Entry> = visits
        .iter()
        .flat_map(|v| std::iter::once(&v.lead).chain(v.members.iter()))
        .collect();
    let card = |keep: &dyn Fn(&Person) -> bool| {
        people.iter().find_map(|e| match e {
            Entry::Card {
                person,
                failures: 0,
            } if keep(person) => Some(person.clone()),
            _ => None,
        })
    };
    let child = people.iter().find_map(|e| match e {
        Entry::Child { person } if age(person) < 5 => Some(person.clone()),
        _ => None,
    });
    (
        card(&|p| (18..60).contains(&age(p))).expect("a lead"),
        card(&|p| age(p) >= 60).expect("a second adult of 60 or over"),
        child.expect("the crowd has a child under 5 without a KTP"),
    )
}

/// A two-thread tokio runtime beside the UI's thread, and on it a rig (simulated reader,
/// printer and central service, enrolled) in a temporary directory.
pub fn rig(opts: RigOptions) -> (tokio::runtime::Runtime, tempfile::TempDir, Rig) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let today = chrono::Utc::now()
        .with_timezone(&apm_kiosk::domain::calendar::Zone::Wib.offset())
        .date_naive();
    let rig = rt
        .block_on(Rig::start(dir.path(), opts, today))
        .expect("the rig starts");
    (rt, dir, rig)
}
