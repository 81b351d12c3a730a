//! The command line's observer: a progress bar on stderr while a person
//! waits at a terminal (indicatif); nothing otherwise, and nothing in CI.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::source::{Event, Observer};

pub struct Progress(Option<ProgressBar>);

impl Progress {
    pub fn new() -> Progress {
        let attended = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        Progress(attended.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_message("discovering APIs");
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        }))
    }
}

impl Observer for Progress {
    fn on(&self, event: Event<'_>) {
        let Some(bar) = &self.0 else { return };
        match event {
            Event::Found { apis } => {
                bar.set_length(apis as u64);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} reading routes {pos}/{len} APIs [{elapsed}]",
                    )
                    .expect("valid template"),
                );
            }
            Event::Done => bar.inc(1),
            Event::Request { .. } | Event::Waited { .. } => {}
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
