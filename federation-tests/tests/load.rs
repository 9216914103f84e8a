//! A node under load over loopback, for a fixed time (10 s here; `PALABRE_LOAD_SECONDS=300` for
//! the long version, see docs/load.md): remote actors on four servers deliver signed arguments,
//! comments and votes to its shared inbox while people read its pages, API and ActivityStreams
//! documents and local accounts post proposals, arguments and votes through the API.
//! Speed is not asserted here (figures are in bench/RESULTS.md, made by scripts/bench).
use palabre_federation_tests::Node;
use palabre_federation_tests::load::{self, Settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_load_a_node_keeps_every_accepted_activity_never_fails_and_stays_within_its_memory() {
    let settings = Settings::from_env().expect("load settings");
    let env = load::node_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let node = Node::start_with("Sous charge", &env)
        .await
        .expect("node starts");
    let outcome = load::run(&node, &settings).await.expect("the load runs");
    let figures = outcome.markdown();
    println!("{figures}");
    // Every inbox delivery the node said it accepted, every proposal, argument and vote it
    // said it created, is there exactly once afterwards; nothing it refused is; no request
    // failed (a 429 would be counted apart, not as a failure); and its memory stayed under
    // the ceiling.
    assert!(
        outcome.problems.is_empty(),
        "{} problems:\n{}\n\n{figures}\n\nnode log (end):\n{}",
        outcome.problems.len(),
        outcome
            .problems
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        tail(&node.log(), 40)
    );
    let accepted = outcome.report.accepted;
    assert!(
        accepted.remote_arguments > 0 && accepted.remote_comments > 0 && accepted.remote_votes > 0,
        "the load delivered arguments, comments and votes: {figures}"
    );
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
