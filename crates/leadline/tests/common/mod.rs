//! What the binary's tests share: a scratch directory, and a started server's first lines.

use std::path::PathBuf;

use leadline_app::testing::random_hex;

/// A fresh directory under the temp directory, removed with everything in it when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `leadline-{name}-{12 random hex digits}`: the tests of a binary run at once, and a rerun
    /// never meets what an interrupted one left.
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("leadline-{name}-{}", random_hex(6)));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What `leadline serve` prints before it serves, up to its "API reference" line; the rest of
/// `lines` is left to read.
#[allow(dead_code)] // not every test binary starts a server
pub fn startup_lines(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> Vec<String> {
    let mut printed = Vec::new();
    for line in lines {
        let line = line.unwrap();
        let done = line.starts_with("API reference");
        printed.push(line);
        if done {
            break;
        }
    }
    printed
}
