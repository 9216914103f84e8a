//! Fuzz target `markdown_html`: see `palabre::fuzzing::markdown_html` for what it reads and checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = palabre::fuzzing::markdown_html(data) {
        panic!("property broken: {broken}");
    }
});
