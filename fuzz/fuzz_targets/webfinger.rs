//! Fuzz target `webfinger`: see `palabre::fuzzing::webfinger` for what it reads and checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = palabre::fuzzing::webfinger(data) {
        panic!("property broken: {broken}");
    }
});
