//! Fuzz target `signature_headers`: see `palabre::fuzzing::signature_headers` for what it reads and checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = palabre::fuzzing::signature_headers(data) {
        panic!("property broken: {broken}");
    }
});
