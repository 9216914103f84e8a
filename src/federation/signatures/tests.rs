//! Unit tests: the signature bases and signatures of RFC 9421 Appendix B, Content-Digest
//! (RFC 9530), signing byte for byte as PyPI's http-message-signatures, the inbox policy,
//! malformed headers, derived components, schemes and the draft-cavage `Date`.
use axum::http::HeaderMap;
use chrono::Utc;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::{RsaPrivateKey, RsaPublicKey};
use url::Url;

use super::base::authority;
use super::outgoing::http_date;
use super::*;

/// RFC 9421 Appendix B.2: `test-request`.
const BODY: &[u8] = br#"{"hello": "world"}"#;
const SHA512_DIGEST: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

fn test_request_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("host", "example.com".parse().unwrap());
    headers.insert("date", "Tue, 20 Apr 2021 02:07:55 GMT".parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("content-digest", SHA512_DIGEST.parse().unwrap());
    headers.insert("content-length", "18".parse().unwrap());
    headers
}

fn with_signature(mut headers: HeaderMap, input: &str, signature: &str) -> HeaderMap {
    headers.insert("signature-input", input.parse().unwrap());
    headers.insert("signature", signature.parse().unwrap());
    headers
}

fn test_url() -> Url {
    Url::parse("https://example.com/foo?param=Value&Pet=dog").unwrap()
}

/// B.1.2 `test-key-rsa-pss`, public half.
const RSA_PSS_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAr4tmm3r20Wd/PbqvP1s2
+QEtvpuRaV8Yq40gjUR8y2Rjxa6dpG2GXHbPfvMs8ct+Lh1GH45x28Rw3Ry53mm+
oAXjyQ86OnDkZ5N8lYbggD4O3w6M6pAvLkhk95AndTrifbIFPNU8PPMO7OyrFAHq
gDsznjPFmTOtCEcN2Z1FpWgchwuYLPL+Wokqltd11nqqzi+bJ9cvSKADYdUAAN5W
Utzdpiy6LbTgSxP7ociU4Tn0g5I6aDZJ7A8Lzo0KSyZYoA485mqcO0GVAdVw9lq4
aOT9v6d+nb4bnNkQVklLQ3fVAvJm+xdDOp9LCNCN48V2pnDOkFV6+U9nV5oyc6XI
2wIDAQAB
-----END PUBLIC KEY-----";

/// B.1.4 `test-key-ed25519`, public half.
const ED25519_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----";

/// B.1.1 `test-key-rsa` (PKCS#1), the RSASSA-PKCS1-v1_5 key of the RFC.
const RSA_PRIVATE: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEqAIBAAKCAQEAhAKYdtoeoy8zcAcR874L8cnZxKzAGwd7v36APp7Pv6Q2jdsP
BRrwWEBnez6d0UDKDwGbc6nxfEXAy5mbhgajzrw3MOEt8uA5txSKobBpKDeBLOsd
JKFqMGmXCQvEG7YemcxDTRPxAleIAgYYRjTSd/QBwVW9OwNFhekro3RtlinV0a75
jfZgkne/YiktSvLG34lw2zqXBDTC5NHROUqGTlML4PlNZS5Ri2U4aCNx2rUPRcKI
lE0PuKxI4T+HIaFpv8+rdV6eUgOrB2xeI1dSFFn/nnv5OoZJEIB+VmuKn3DCUcCZ
SFlQPSXSfBDiUGhwOw76WuSSsf1D4b/vLoJ10wIDAQABAoIBAG/JZuSWdoVHbi56
vjgCgkjg3lkO1KrO3nrdm6nrgA9P9qaPjxuKoWaKO1cBQlE1pSWp/cKncYgD5WxE
CpAnRUXG2pG4zdkzCYzAh1i+c34L6oZoHsirK6oNcEnHveydfzJL5934egm6p8DW
+m1RQ70yUt4uRc0YSor+q1LGJvGQHReF0WmJBZHrhz5e63Pq7lE0gIwuBqL8SMaA
yRXtK+JGxZpImTq+NHvEWWCu09SCq0r838ceQI55SvzmTkwqtC+8AT2zFviMZkKR
Qo6SPsrqItxZWRty2izawTF0Bf5S2VAx7O+6t3wBsQ1sLptoSgX3QblELY5asI0J
YFz7LJECgYkAsqeUJmqXE3LP8tYoIjMIAKiTm9o6psPlc8CrLI9CH0UbuaA2JCOM
cCNq8SyYbTqgnWlB9ZfcAm/cFpA8tYci9m5vYK8HNxQr+8FS3Qo8N9RJ8d0U5Csw
DzMYfRghAfUGwmlWj5hp1pQzAuhwbOXFtxKHVsMPhz1IBtF9Y8jvgqgYHLbmyiu1
mwJ5AL0pYF0G7x81prlARURwHo0Yf52kEw1dxpx+JXER7hQRWQki5/NsUEtv+8RT
qn2m6qte5DXLyn83b1qRscSdnCCwKtKWUug5q2ZbwVOCJCtmRwmnP131lWRYfj67
B/xJ1ZA6X3GEf4sNReNAtaucPEelgR2nsN0gKQKBiGoqHWbK1qYvBxX2X3kbPDkv
9C+celgZd2PW7aGYLCHq7nPbmfDV0yHcWjOhXZ8jRMjmANVR/eLQ2EfsRLdW69bn
f3ZD7JS1fwGnO3exGmHO3HZG+6AvberKYVYNHahNFEw5TsAcQWDLRpkGybBcxqZo
81YCqlqidwfeO5YtlO7etx1xLyqa2NsCeG9A86UjG+aeNnXEIDk1PDK+EuiThIUa
/2IxKzJKWl1BKr2d4xAfR0ZnEYuRrbeDQYgTImOlfW6/GuYIxKYgEKCFHFqJATAG
IxHrq1PDOiSwXd2GmVVYyEmhZnbcp8CxaEMQoevxAta0ssMK3w6UsDtvUvYvF22m
qQKBiD5GwESzsFPy3Ga0MvZpn3D6EJQLgsnrtUPZx+z2Ep2x0xc5orneB5fGyF1P
WtP+fG5Q6Dpdz3LRfm+KwBCWFKQjg7uTxcjerhBWEYPmEMKYwTJF5PBG9/ddvHLQ
EQeNC8fHGg4UXU8mhHnSBt3EA10qQJfRDs15M38eG2cYwB1PZpDHScDnDA0=
-----END RSA PRIVATE KEY-----";

/// Builds the base of the only signature of `headers` and verifies it with `key`, with the
/// algorithm `alg` (the RFC's examples leave `alg` out: the verifier is told).
fn base_and_verify(
    headers: &HeaderMap,
    key: &str,
    alg: Option<&str>,
) -> (String, Result<(), SignatureError>) {
    let signatures = parse_signatures(headers).unwrap();
    assert_eq!(signatures.len(), 1);
    let signature = &signatures[0];
    let url = test_url();
    let base = signature_base(
        &SignedRequest {
            method: "POST",
            target_uri: &url,
            headers,
        },
        signature,
    )
    .unwrap();
    let key = parse_public_key(key).unwrap();
    assert_eq!(signature.alg().unwrap(), None);
    let verified = verify_signature(&key, alg, base.as_bytes(), &signature.signature);
    (base, verified)
}

#[test]
fn content_digest_matches_the_rfc_examples() {
    // RFC 9530 §B.1 (sha-256) and RFC 9421 §B.2 (sha-512) for `{"hello": "world"}`.
    assert_eq!(
        content_digest(BODY),
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    );
    check_content_digest(SHA512_DIGEST, BODY).unwrap();
    check_content_digest(&content_digest(BODY), BODY).unwrap();
    check_content_digest(&format!("{SHA512_DIGEST}, md5=:AAAA:"), BODY).unwrap();
    assert!(check_content_digest(SHA512_DIGEST, b"{\"hello\": \"World\"}").is_err());
    assert!(
        check_content_digest("md5=:AAAA:", BODY).is_err(),
        "no usable digest"
    );
    assert!(
        check_content_digest("sha-256=X48E", BODY).is_err(),
        "not a byte sequence"
    );
}

#[test]
fn b_2_3_full_coverage_base_and_rsa_pss_signature() {
    let headers = with_signature(
        test_request_headers(),
        r#"sig-b23=("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss""#,
        "sig-b23=:bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0yBiMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5p2voTp768ZrCUb38K0fUxN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V5B1TP/yPViV7KsLNmvKiLJH1pFkh/aYA2HXXZzNBXmIkoQoLd7YfW91kE9o/CCoC1xMy7JA1ipwvKvfrs65ldmlu9bpG6A9BmzhuzF8Eim5f8ui9eH8LZH896+QIF61ka39VBrohr9iyMUJpvRX2Zbhl5ZJzSRxpJyoEZAFL2FUo5fTIztsDZKEgM4cUA==:",
    );
    let (base, verified) = base_and_verify(&headers, RSA_PSS_PUBLIC, Some("rsa-pss-sha512"));
    assert_eq!(
        base,
        [
            r#""date": Tue, 20 Apr 2021 02:07:55 GMT"#,
            r#""@method": POST"#,
            r#""@path": /foo"#,
            r#""@query": ?param=Value&Pet=dog"#,
            r#""@authority": example.com"#,
            r#""content-type": application/json"#,
            &format!(r#""content-digest": {SHA512_DIGEST}"#),
            r#""content-length": 18"#,
            r#""@signature-params": ("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss""#,
        ]
        .join("\n")
    );
    // RSA-PSS is only verified here (it is randomised): the RFC's own signature verifies
    // over the base built here, so the base is byte for byte the RFC's.
    verified.unwrap();
    // It is not an RSA v1.5 signature, which an RSA key means when `alg` is absent...
    assert!(base_and_verify(&headers, RSA_PSS_PUBLIC, None).1.is_err());
    // ... and a base that differs by one byte does not verify.
    let mut other = test_request_headers();
    other.insert("content-length", "19".parse().unwrap());
    let other = with_signature(
        other,
        headers["signature-input"].to_str().unwrap(),
        headers["signature"].to_str().unwrap(),
    );
    assert!(
        base_and_verify(&other, RSA_PSS_PUBLIC, Some("rsa-pss-sha512"))
            .1
            .is_err()
    );
}

#[test]
fn b_2_1_minimal_signature_covers_only_its_parameters() {
    let headers = with_signature(
        test_request_headers(),
        r#"sig-b21=();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd""#,
        "sig-b21=:d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUopemLJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8Udx7zFZsckzXaJMkA7ChG52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8xxbR/Z2cOGdCbzR72rgFWhzx2VjBqJzsPLMIQKhO4DGezXehhWwE56YCE+O6c0mKZsfxVrogUvA4HELjVKWmAvtl6UnCh8jYzuVG5WSb/QEVPnP5TmcAnLH1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3+7EPYTU8IU1bLhdxO5Nyt8C8ssinQ98Xw9Q==:",
    );
    let (base, verified) = base_and_verify(&headers, RSA_PSS_PUBLIC, Some("rsa-pss-sha512"));
    assert_eq!(
        base,
        r#""@signature-params": ();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd""#
    );
    verified.unwrap();
    // Covering nothing of the request is not enough for an inbox.
    let signature = &parse_signatures(&headers).unwrap()[0];
    assert!(check_policy(signature, 1618884473).is_err());
}

#[test]
fn b_2_6_ed25519_signature_verifies() {
    let headers = with_signature(
        test_request_headers(),
        r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#,
        "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:",
    );
    let (base, verified) = base_and_verify(&headers, ED25519_PUBLIC, None);
    assert_eq!(
        base,
        [
            r#""date": Tue, 20 Apr 2021 02:07:55 GMT"#,
            r#""@method": POST"#,
            r#""@path": /foo"#,
            r#""@authority": example.com"#,
            r#""content-type": application/json"#,
            r#""content-length": 18"#,
            r#""@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#,
        ]
        .join("\n")
    );
    verified.unwrap();
    // An Ed25519 key with an RSA algorithm named: refused before any check.
    let key = parse_public_key(ED25519_PUBLIC).unwrap();
    assert!(verify_signature(&key, Some("rsa-v1_5-sha256"), base.as_bytes(), &[0; 64]).is_err());
}

#[test]
fn signing_matches_the_python_library_byte_for_byte() {
    // RSASSA-PKCS1-v1_5 is deterministic: these headers were made by PyPI's
    // http-message-signatures 3.0.0 (federation-tests/rfc9421/sign_verify.py sign) with
    // the RFC's test-key-rsa, created=1618884473, keyid "test-key-rsa", no alg.
    let key = RsaPrivateKey::from_pkcs1_pem(RSA_PRIVATE).unwrap();
    let signed = sign_rfc9421(&test_url(), BODY, &key, "test-key-rsa", 1618884473).unwrap();
    assert_eq!(
        signed.content_digest,
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    );
    assert_eq!(
        signed.signature_input,
        r#"sig1=("@method" "@target-uri" "content-digest");created=1618884473;keyid="test-key-rsa""#
    );
    assert_eq!(
        signed.signature,
        "sig1=:aKJ1opieFQVSaBXE4c8FnjNan+AQOPVSQujc1ZJrEuGi1nZ9WRC3gPinlMFAhjpHaHioC8c6T9Lrl5DHJfgph9TMK04s+8bkQorvqu/P22jxXPLeiW3Dh/qX0euNl3++GBgG3L4TIQOUUmb32nMZqKcKv9dsUk9adjXLXLSaIssJcdq8N4Np2iWtE+qOO4+kCAJ3kqaalAtKvSkmMsv8qWxpDpcMYtXy5htV7aJPofnTf22YMkHJznqBpsRiTmPJY98PzTk8BIBw31LsVF/b9s8T0RRQQm2roO9bkox2dLj179zr62PWTp8SjkDrZmJ1xxUdleEZVYZ+hmghz/rvJg==:"
    );

    // And it verifies as Palabre checks an inbox request, but not for another target.
    let mut headers = HeaderMap::new();
    headers.insert("content-digest", signed.content_digest.parse().unwrap());
    let headers = with_signature(headers, &signed.signature_input, &signed.signature);
    let public = rsa::pkcs8::EncodePublicKey::to_public_key_pem(
        &RsaPublicKey::from(&key),
        rsa::pkcs8::LineEnding::LF,
    )
    .unwrap();
    let (base, verified) = base_and_verify(&headers, &public, None);
    assert_eq!(
        base,
        [
            r#""@method": POST"#,
            r#""@target-uri": https://example.com/foo?param=Value&Pet=dog"#,
            r#""content-digest": sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"#,
            r#""@signature-params": ("@method" "@target-uri" "content-digest");created=1618884473;keyid="test-key-rsa""#,
        ]
        .join("\n")
    );
    verified.unwrap();
    let signature = &parse_signatures(&headers).unwrap()[0];
    let elsewhere = Url::parse("https://example.com/other-inbox").unwrap();
    let base = signature_base(
        &SignedRequest {
            method: "POST",
            target_uri: &elsewhere,
            headers: &headers,
        },
        signature,
    )
    .unwrap();
    let key = parse_public_key(&public).unwrap();
    assert!(verify_signature(&key, None, base.as_bytes(), &signature.signature).is_err());
    assert!(
        verify_signature(&key, Some("ed25519"), base.as_bytes(), &signature.signature).is_err()
    );
}

fn signature_with(input: &str) -> MessageSignature {
    let headers = with_signature(HeaderMap::new(), input, "sig1=:AAAA:");
    parse_signatures(&headers).unwrap().remove(0)
}

#[test]
fn inbox_policy_requires_target_digest_keyid_and_a_fresh_created() {
    let now = 1_700_000_000;
    let ok = |components: &str, params: &str| {
        check_policy(
            &signature_with(&format!("sig1=({components}){params}")),
            now,
        )
    };
    let fresh = format!(r#";created={now};keyid="https://a.example/u#main-key""#);
    ok(r#""@method" "@target-uri" "content-digest""#, &fresh).unwrap();
    ok(r#""@method" "@authority" "@path" "content-digest""#, &fresh).unwrap();
    ok(
        r#""@method" "@authority" "@request-target" "content-digest""#,
        &fresh,
    )
    .unwrap();
    ok(
        r#""@method" "@target-uri" "content-digest""#,
        &format!(r#"{fresh};alg="rsa-v1_5-sha256""#),
    )
    .unwrap();
    assert!(ok(r#""@target-uri" "content-digest""#, &fresh).is_err());
    assert!(ok(r#""@method" "@authority" "content-digest""#, &fresh).is_err());
    assert!(ok(r#""@method" "@path" "content-digest""#, &fresh).is_err());
    assert!(ok(r#""@method" "@target-uri""#, &fresh).is_err());
    assert!(ok(r#""@method" "@target-uri" "content-digest";sf"#, &fresh).is_err());
    let components = r#""@method" "@target-uri" "content-digest""#;
    assert!(
        ok(components, &format!(";created={now}")).is_err(),
        "no keyid"
    );
    assert!(ok(components, r#";keyid="https://a.example/u#main-key""#).is_err());
    let at = |created: i64| format!(r#";created={created};keyid="k""#);
    ok(components, &at(now - MAX_AGE_SECONDS)).unwrap();
    assert!(
        ok(components, &at(now - MAX_AGE_SECONDS - 1)).is_err(),
        "stale"
    );
    ok(components, &at(now + MAX_SKEW_SECONDS)).unwrap();
    assert!(
        ok(components, &at(now + MAX_SKEW_SECONDS + 1)).is_err(),
        "future"
    );
    let expired = format!(r#";created={now};keyid="k";expires={}"#, now - 600);
    assert!(ok(components, &expired).is_err(), "expired");
    assert!(ok(components, r#";created="yesterday";keyid="k""#).is_err());
}

#[test]
fn malformed_headers_are_refused() {
    let parse = |input: &str, signature: &str| {
        parse_signatures(&with_signature(HeaderMap::new(), input, signature))
    };
    assert!(parse("sig1=(\"@method\"", "sig1=:AAAA:").is_err());
    assert!(parse("sig1=(\"@method\")", "sig1=AAAA").is_err());
    assert!(parse("sig1=(\"@method\")", "other=:AAAA:").is_err());
    assert!(parse("sig1=\"@method\"", "sig1=:AAAA:").is_err());
    assert!(
        parse("sig1=(@method)", "sig1=:AAAA:").is_err(),
        "tokens are not components"
    );
    assert!(parse_signatures(&HeaderMap::new()).is_err());
    // Two labels: both are read, in order.
    let both = parse(
        r#"sig1=("@method");keyid="a", sig2=("@path");keyid="b""#,
        "sig2=:AAAA:, sig1=:AAAA:",
    )
    .unwrap();
    assert_eq!(both.len(), 2);
    assert_eq!(both[0].label, "sig1");
    // A covered header that is not there, or a component covered twice: no base.
    let url = test_url();
    let headers = HeaderMap::new();
    let request = SignedRequest {
        method: "POST",
        target_uri: &url,
        headers: &headers,
    };
    assert!(signature_base(&request, &signature_with(r#"sig1=("content-digest")"#)).is_err());
    assert!(signature_base(&request, &signature_with(r#"sig1=("@method" "@method")"#)).is_err());
    assert!(signature_base(&request, &signature_with(r#"sig1=("@status")"#)).is_err());
}

#[test]
fn derived_components_follow_section_2_2() {
    let url = Url::parse("https://Example.COM:443/a%20b/c?x=1&y").unwrap();
    let mut headers = HeaderMap::new();
    headers.append("x-many", " one ".parse().unwrap());
    headers.append("x-many", "two".parse().unwrap());
    let request = SignedRequest {
        method: "POST",
        target_uri: &url,
        headers: &headers,
    };
    let base = signature_base(
        &request,
        &signature_with(
            r#"sig1=("@method" "@target-uri" "@authority" "@scheme" "@request-target" "@path" "@query" "x-many")"#,
        ),
    )
    .unwrap();
    assert_eq!(
        base,
        [
            r#""@method": POST"#,
            r#""@target-uri": https://example.com/a%20b/c?x=1&y"#,
            r#""@authority": example.com"#,
            r#""@scheme": https"#,
            r#""@request-target": /a%20b/c?x=1&y"#,
            r#""@path": /a%20b/c"#,
            r#""@query": ?x=1&y"#,
            r#""x-many": one, two"#,
            r#""@signature-params": ("@method" "@target-uri" "@authority" "@scheme" "@request-target" "@path" "@query" "x-many")"#,
        ]
        .join("\n")
    );
    let port = Url::parse("http://localhost:8080/inbox").unwrap();
    assert_eq!(authority(&port).unwrap(), "localhost:8080");
}

#[test]
fn schemes_round_trip_and_alternate() {
    for scheme in [Scheme::Cavage, Scheme::Rfc9421] {
        assert_eq!(Scheme::parse(scheme.as_str()), Some(scheme));
        assert_eq!(scheme.other().other(), scheme);
        assert_ne!(scheme.other(), scheme);
    }
    assert_eq!(Scheme::parse("hs2019"), None);
}

#[test]
fn a_cavage_signature_must_cover_target_host_digest_and_a_fresh_date() {
    let at = |offset: chrono::Duration| {
        (Utc::now() + offset)
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
    };
    let request = |covered: &str, date: Option<String>| {
        let mut headers = HeaderMap::new();
        let signature = format!(
            "keyId=\"https://a.example/u#main-key\",algorithm=\"rsa-sha256\",headers=\"{covered}\",signature=\"AAAA\""
        );
        headers.insert("signature", signature.parse().unwrap());
        if let Some(date) = date {
            headers.insert("date", date.parse().unwrap());
        }
        check_cavage_policy(&headers)
    };
    let full = "(request-target) host date digest";
    request(full, Some(http_date())).unwrap();
    // Each missing piece, a stale or future Date, no Date at all, no signature: refused.
    for covered in [
        "host date digest",
        "(request-target) date digest",
        "(request-target) host date",
        "(request-target) host digest",
    ] {
        assert!(request(covered, Some(http_date())).is_err(), "{covered}");
    }
    assert!(request(full, Some(at(chrono::Duration::hours(-2)))).is_err());
    assert!(request(full, Some(at(chrono::Duration::minutes(10)))).is_err());
    request(full, Some(at(chrono::Duration::minutes(-50)))).unwrap();
    assert!(request(full, None).is_err());
    assert!(check_cavage_policy(&HeaderMap::new()).is_err());
    // A covered-headers list smuggled into the (unsigned) keyId does not count.
    let mut headers = HeaderMap::new();
    let smuggled = "keyId=\"https://a.example/u#main-key,headers=(request-target) host digest\",algorithm=\"rsa-sha256\",headers=\"(request-target) date\",signature=\"AAAA\"";
    headers.insert("signature", smuggled.parse().unwrap());
    headers.insert("date", http_date().parse().unwrap());
    assert!(check_cavage_policy(&headers).is_err());
}

#[test]
fn a_cavage_signature_dated_by_created_must_be_fresh_and_unexpired() {
    let now = Utc::now().timestamp();
    let request = |params: &str| {
        let mut headers = HeaderMap::new();
        let signature = format!(
            "keyId=\"https://a.example/u#main-key\",algorithm=\"hs2019\"{params},headers=\"(request-target) host (created) (expires) digest\",signature=\"AAAA\""
        );
        headers.insert("signature", signature.parse().unwrap());
        check_cavage_policy(&headers)
    };
    request(&format!(",created={now}")).unwrap();
    request(&format!(",created={},expires={}", now - 3000, now + 60)).unwrap();
    for (what, params) in [
        ("no created", String::new()),
        ("two hours old", format!(",created={}", now - 7200)),
        ("ten minutes ahead", format!(",created={}", now + 600)),
        (
            "expired",
            format!(",created={},expires={}", now - 120, now - 60),
        ),
        ("not a number", ",created=soon".to_owned()),
        (
            "given twice",
            format!(",created={now},created={}", now - 7200),
        ),
    ] {
        assert!(request(&params).is_err(), "{what}");
    }
}
