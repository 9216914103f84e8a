//! Fuzz target `inbox_json`: see `palabre::fuzzing::inbox_json` for what it reads and checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = palabre::fuzzing::inbox_json(data) {
        panic!("property broken: {broken}");
    }
});
