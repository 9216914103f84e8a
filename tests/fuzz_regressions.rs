//! The fuzz targets' regression corpus, run as ordinary tests: every input that ever crashed a
//! target (`fuzz/regressions/<target>/`, with hand-made hostile inputs) and the committed seeds
//! (`fuzz/corpus/<target>/seed-*`) go through the same entry functions as the fuzzer
//! (`palabre::fuzzing`), which check the properties a hostile peer must not break. A panic
//! counts as a failure. docs/fuzzing.md says how to add a case.
use std::path::{Path, PathBuf};

use palabre::fuzzing::{TARGETS, Verdict};

/// The files of one directory, sorted; the seeds only in `corpus/`.
fn inputs(dir: &Path, seeds_only: bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            !seeds_only
                || p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("seed-"))
        })
        .collect();
    files.sort();
    files
}

/// Runs every regression input and seed of `target`; returns how many there were.
fn run(target: &str) -> usize {
    let check = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, check)| *check)
        .unwrap_or_else(|| panic!("no fuzz target {target} in palabre::fuzzing::TARGETS"));
    // Read at run time: a test binary built in another checkout sharing the target directory
    // must read this checkout's corpus.
    let crate_dir =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let fuzz = Path::new(&crate_dir).join("fuzz");
    let regressions = inputs(&fuzz.join("regressions").join(target), false);
    assert!(
        !regressions.is_empty(),
        "fuzz/regressions/{target} holds no input"
    );
    let files: Vec<PathBuf> = regressions
        .into_iter()
        .chain(inputs(&fuzz.join("corpus").join(target), true))
        .collect();
    let mut failures = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome: std::thread::Result<Verdict> = std::panic::catch_unwind(|| check(&data));
        let name = file
            .strip_prefix(&fuzz)
            .unwrap_or(file)
            .display()
            .to_string();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(broken)) => failures.push(format!("{name}: {broken}")),
            Err(_) => failures.push(format!("{name}: panicked")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} inputs of {target} break a property:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    files.len()
}

#[test]
fn hostile_inbox_bodies_are_refused_or_read_within_the_reply_cap_and_render_safely() {
    assert!(run("inbox_json") > 20);
}

#[test]
fn malformed_signature_headers_are_refused_without_panicking_and_never_verify() {
    assert!(run("signature_headers") > 10);
}

#[test]
fn hostile_markdown_and_html_never_render_scripts_handlers_or_raw_markup() {
    assert!(run("markdown_html") > 10);
}

#[test]
fn webfinger_queries_and_server_names_are_read_consistently() {
    assert!(run("webfinger") > 10);
}

/// The checks on rendered HTML must be able to fail: what a broken sanitiser or renderer would
/// write is caught, and what the renderers write for ordinary text passes.
#[test]
fn the_html_checks_catch_scripts_handlers_raw_markup_and_foreign_links() {
    use palabre::fuzzing::html::{check_markdown_html, check_remote_reply, check_sanitized};
    let rel = "rel=\"nofollow ugc noopener noreferrer\"";
    for bad in [
        "<script>alert(1)</script>".to_owned(),
        format!("<a href=\"javascript:alert(1)\" {rel}>x</a>"),
        format!("<a href=\" JaVa&#9;Script:alert(1)\" {rel}>x</a>").replace("&#9;", "\t"),
        "<img src=\"x\" onerror=\"alert(1)\">".to_owned(),
        "<p style=\"color: red\">x</p>".to_owned(),
        "<a href=\"https://a.example/\">no rel</a>".to_owned(),
        "a < b".to_owned(),
        "<svg><a href=\"https://a.example/\"></a></svg>".to_owned(),
    ] {
        assert!(check_sanitized(&bad).is_err(), "sanitized: {bad}");
        assert!(check_markdown_html(&bad).is_err(), "markdown: {bad}");
    }
    for raw_markup in ["<div>x</div>", "<p class=\"x\">y</p>", "<span>z</span>"] {
        assert!(check_markdown_html(raw_markup).is_err(), "{raw_markup}");
    }
    for not_a_remote_reply in [
        "<h1>Titre</h1>",
        "<ol><li>un</li></ol>",
        "<pre><code>x</code></pre>",
        "<img src=\"https://tracker.example/p.png\">",
    ] {
        assert!(
            check_remote_reply(not_a_remote_reply).is_err(),
            "{not_a_remote_reply}"
        );
    }
    let link =
        format!("<p>Voir <a href=\"https://a.example/?a=1&amp;b=2\" {rel}>ceci</a><br>ok</p>");
    assert_eq!(check_sanitized(&link), Ok(()));
    assert_eq!(check_markdown_html(&link), Ok(()));
    assert_eq!(check_remote_reply(&link), Ok(()));
}
