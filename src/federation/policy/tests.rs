use super::*;

#[test]
fn domains_are_normalized_as_host_of_gives_them() {
    assert_eq!(normalize_domain("Example.ORG").unwrap(), "example.org");
    assert_eq!(normalize_domain("example.org.").unwrap(), "example.org");
    assert_eq!(
        normalize_domain("localhost:8080").unwrap(),
        "localhost:8080"
    );
    assert_eq!(
        normalize_domain("https://Social.Example:8443/users/x").unwrap(),
        "social.example:8443"
    );
    assert_eq!(
        normalize_domain("https://social.example/").unwrap(),
        "social.example"
    );
    assert_eq!(normalize_domain("[::1]:3000").unwrap(), "[::1]:3000");
    // A number ending in an encoded dot is the address the number is, as `1.` is, and stays
    // so when normalized again (found by the `webfinger` fuzz target).
    for raw in ["1.%2E", "1.", "1", "0.0.0.1"] {
        assert_eq!(normalize_domain(raw).unwrap(), "0.0.0.1", "{raw}");
    }
    for bad in [
        "",
        "not a host!",
        "example.org:port",
        "example.org:99999",
        "a/b",
    ] {
        assert!(normalize_domain(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_blocked_server_is_refused_and_allow_list_mode_admits_partners_only() {
    let mut policy = Policy::default();
    policy.blocked.insert("bad.example".into());
    policy.allowed.insert("partner.example:8443".into());
    assert_eq!(policy.refusal("bad.example"), Some(Refusal::Blocked));
    assert_eq!(policy.refusal("other.example"), None);
    // The absolute name (trailing dot) is the same server (found by the `webfinger` fuzz target).
    for dodge in ["https://bad.example./u/m", "https://BAD.example../u/m"] {
        let url = Url::parse(dodge).unwrap();
        assert_eq!(
            policy.refusal(&rule_host(&url)),
            Some(Refusal::Blocked),
            "{dodge}"
        );
    }
    policy.mode = FederationMode::Allowlist;
    assert_eq!(policy.refusal("partner.example:8443"), None);
    assert_eq!(policy.refusal("partner.example"), Some(Refusal::NotPartner));
    assert_eq!(policy.refusal("other.example"), Some(Refusal::NotPartner));
    assert_eq!(policy.refusal("bad.example"), Some(Refusal::Blocked));
}

#[test]
fn embedded_authors_are_involved_not_only_the_sender() {
    let announce = serde_json::json!({
        "type": "Announce",
        "id": "https://group.example/a/1",
        "actor": "https://group.example/c/x",
        "object": {
            "type": "Create",
            "id": "https://bad.example/c/1",
            "actor": "https://bad.example/u/mallory",
            "object": {"type": "Note", "id": "https://bad.example/n/1",
                        "attributedTo": [{"type": "Person", "id": "https://bad.example/u/m2"}]}
        }
    });
    let mut found = Involved::default();
    involved(&announce, 0, &mut found);
    let people: Vec<&str> = found.people.iter().map(Url::as_str).collect();
    assert_eq!(
        people,
        [
            "https://group.example/c/x",
            "https://bad.example/u/mallory",
            "https://bad.example/u/m2"
        ]
    );
    let like = serde_json::json!({"type": "Like", "id": "https://x.example/l",
        "actor": "https://x.example/u", "object": "https://here.example/proposals/1"});
    let mut found = Involved::default();
    involved(&like, 0, &mut found);
    assert_eq!(found.objects.len(), 1);
}

#[test]
fn like_patterns_escape_wildcards() {
    assert_eq!(
        server_pattern("https", "a_b.example:8080"),
        "https://a!_b.example:8080/%"
    );
}
