//! The real `palabre` binary: configuration layering, migrate, admin commands, demo and serve.
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

fn palabre(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_palabre"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("PALABRE_DATABASE__URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn palabre");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("wait palabre")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn node_config(dir: &Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("node.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{port}\"\n\n\
             [database]\nurl = \"sqlite://{}/node.sqlite?mode=rwc\"\n\n[instance]\nname = \"Ville de Kerlann\"\n",
            dir.display()
        ),
    )
    .expect("write config");
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[test]
fn admin_commands_create_and_verify_accounts_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = node_config(dir.path(), free_port());

    let out = palabre(&config, &["migrate"], None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        dir.path().join("node.sqlite").exists(),
        "the SQLite file is created on first start"
    );

    let out = palabre(
        &config,
        &[
            "admin",
            "create-user",
            "alice",
            "--password-stdin",
            "--admin",
            "--verified",
            "Ville de Kerlann",
        ],
        Some("un mot de passe sûr\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("created admin account 'alice'"),
        "{}",
        text(&out)
    );

    let out = palabre(
        &config,
        &["admin", "create-user", "alice", "--password-stdin"],
        Some("un autre mot de passe\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("already taken"), "{}", text(&out));

    let out = palabre(
        &config,
        &["admin", "create-user", "bob", "--password-stdin"],
        Some("court\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("at least 8 characters"),
        "{}",
        text(&out)
    );

    let out = palabre(
        &config,
        &["admin", "create-user", "Bob!", "--password-stdin"],
        Some("assez long vraiment\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("lowercase letters"), "{}", text(&out));

    let out = palabre(&config, &["admin", "create-user", "carol"], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the password must come from stdin: {}",
        text(&out)
    );

    let out = palabre(
        &config,
        &["admin", "create-user", "carol", "--password-stdin"],
        Some("le mot de passe de carol\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = palabre(
        &config,
        &["admin", "verify", "carol", "Compte vérifié"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Compte vérifié"));
    let out = palabre(
        &config,
        &["admin", "verify", "nobody", "Compte vérifié"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("no account named 'nobody'"),
        "{}",
        text(&out)
    );

    let missing = dir.path().join("missing.toml");
    let out = palabre(&missing, &["migrate"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn demo_then_serve_shows_a_closed_and_an_open_consultation() {
    let dir = tempfile::tempdir().unwrap();
    let file_port = free_port();
    let config = node_config(dir.path(), file_port);
    let out = palabre(&config, &["demo"], None);
    assert!(out.status.success(), "{}", text(&out));
    let out = palabre(&config, &["demo"], None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("already loaded"),
        "running the demo twice changes nothing"
    );

    // Environment variables override the config file: serve on another port than the file's.
    let port = free_port();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_palabre"))
            .args(["--config"])
            .arg(&config)
            .arg("serve")
            .env("PALABRE_SERVER__BIND", format!("127.0.0.1:{port}"))
            .env(
                "PALABRE_SERVER__PUBLIC_URL",
                format!("http://localhost:{port}"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn serve"),
    );
    let base = format!("http://localhost:{port}");
    palabre::install_crypto_provider();
    let client = reqwest::Client::new();
    let mut consultations = Value::Null;
    for _ in 0..100 {
        if let Ok(response) = client
            .get(format!("{base}/api/v1/consultations"))
            .send()
            .await
        {
            consultations = response.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let list = consultations
        .as_array()
        .expect("the node answers on the overridden port");
    let state_of = |slug: &str| {
        list.iter()
            .find(|c| c["slug"] == slug)
            .map(|c| c["state"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        state_of("transformation-numerique").as_deref(),
        Some("closed")
    );
    assert_eq!(
        state_of("kerlann-services-numeriques").as_deref(),
        Some("open")
    );
    assert_eq!(
        state_of("kerlann-budget-participatif").as_deref(),
        Some("upcoming")
    );
    assert!(list[0]["url"].as_str().unwrap().starts_with(&base));

    // The closed national debate reads like the seed pages: verified authors, arguments both ways.
    let page: Value = client
        .get(format!(
            "{base}/api/v1/consultations/transformation-numerique/proposals?sort=arguments"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let top = &page["items"][0];
    assert!(
        top["counts"]["arguments_for"].as_i64().unwrap() >= 3,
        "{top}"
    );
    assert!(
        top["counts"]["arguments_against"].as_i64().unwrap() >= 1,
        "{top}"
    );
    assert_eq!(top["author"]["verified"], "Compte vérifié");

    // Demo accounts sign in; the closed consultation refuses them, the open one takes them.
    let token: Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"username": "camille", "password": "palabre-demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().expect("demo login works");
    let closed_id = top["id"].as_i64().unwrap();
    let response = client
        .post(format!("{base}/api/v1/proposals/{closed_id}/arguments"))
        .bearer_auth(token)
        .json(&json!({"stance": "for", "body": "Trop tard ?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CONFLICT);
    let response = client
        .post(format!(
            "{base}/api/v1/consultations/kerlann-services-numeriques/proposals"
        ))
        .bearer_auth(token)
        .json(&json!({"title": "Des bancs connectés ?", "body": "Pour recharger son téléphone."}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    drop(server);
}
