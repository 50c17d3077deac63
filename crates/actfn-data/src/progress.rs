//! [`Progress`]: a bar on stderr for reading many files (drawn only on a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// A counter of files read, drawn as a bar when stderr is a terminal.
pub(crate) struct Progress(ProgressBar);

impl Progress {
    /// A bar of `len` steps labelled `what`.
    pub(crate) fn new(len: u64, what: &str) -> Self {
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} ({eta})")
                .expect("the template is valid"),
        );
        bar.set_message(what.to_owned());
        Progress(bar)
    }

    /// One more step.
    pub(crate) fn inc(&self) {
        self.0.inc(1);
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        self.0.finish_and_clear();
    }
}
