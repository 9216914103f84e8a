//! The server-rendered pages, driven over real HTTP like a browser without JavaScript would:
//! cookies kept, forms posted as `application/x-www-form-urlencoded`, redirects inspected.
mod common;
#[path = "common/snapshot.rs"]
mod snapshot;

use common::{PASSWORD, TestApp};
use palabre::domain::Role;
use reqwest::header::{ACCEPT_LANGUAGE, LOCATION};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

/// A client that keeps cookies (session, CSRF, language) and does not follow redirects, so
/// that the tests see the 303s.
fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn page(client: &Client, url: &str) -> (StatusCode, String) {
    let response = client.get(url).send().await.expect("GET");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

/// The value of the first hidden `csrf` input of a page.
fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a form with a csrf field") + marker.len();
    let end = html[start..].find('"').expect("end of csrf value");
    html[start..start + end].to_owned()
}

async fn post_form(client: &Client, url: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    client.post(url).form(fields).send().await.expect("POST")
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Signs `username` in through the login form; returns the CSRF token of the browser.
async fn sign_in(app: &TestApp, client: &Client, username: &str) -> String {
    let (status, html) = page(client, &format!("{}/login", app.url)).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = csrf_of(&html);
    let response = post_form(
        client,
        &format!("{}/login", app.url),
        &[
            ("csrf", &csrf),
            ("username", username),
            ("password", PASSWORD),
            ("next", "/"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    csrf
}

/// An open consultation `slug` with one proposal by a verified author and one argument for it.
/// Returns the proposal's id.
async fn debate(app: &TestApp, slug: &str) -> i64 {
    let admin = app.user_token(&format!("{slug}-admin"), Role::Admin).await;
    app.consultation(&admin, slug, 30).await;
    app.create_user(&format!("{slug}-org"), Role::Member, Some("Compte vérifié"))
        .await;
    let author = app.token(&format!("{slug}-org")).await;
    let (status, proposal) = app
        .api(
            Method::POST,
            &format!("/api/v1/consultations/{slug}/proposals"),
            Some(&author),
            Some(json!({"title": "Ouvrir les données des transports", "body": "Publier les horaires **en temps réel**."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{proposal}");
    let id = proposal["id"].as_i64().expect("proposal id");
    let (status, argument) = app
        .api(
            Method::POST,
            &format!("/api/v1/proposals/{id}/arguments"),
            Some(&author),
            Some(json!({"stance": "for", "body": "Les usagers gagnent du temps."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{argument}");
    id
}

async fn proposal_json(app: &TestApp, id: i64) -> Value {
    let (status, body) = app
        .api(Method::GET, &format!("/api/v1/proposals/{id}"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    body
}

#[tokio::test]
async fn anonymous_readers_get_french_pages_and_english_on_request() {
    let app = TestApp::spawn().await;
    let id = debate(&app, "mobilite").await;
    let client = browser();

    let response = client
        .get(format!("{}/", app.url))
        .send()
        .await
        .expect("home");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(csp.contains("default-src 'none'") && csp.contains("form-action 'self'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    let home = response.text().await.expect("home body");
    assert!(home.contains("<html lang=\"fr\">"), "{home}");
    assert!(home.contains("Consultations ouvertes"));
    assert!(home.contains("href=\"/consultations/mobilite\""));
    assert!(home.contains("1 proposition"));

    let (status, consultation) =
        page(&client, &format!("{}/consultations/mobilite", app.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(consultation.contains("Consultation mobilite"));
    assert!(
        consultation.contains("<strong>améliorer</strong>"),
        "Markdown is rendered"
    );
    assert!(consultation.contains(&format!("href=\"/proposals/{id}\"")));
    assert!(consultation.contains("1 argument pour · 0 contre"));
    assert!(consultation.contains("Connectez-vous pour participer"));
    assert!(consultation.contains("aria-current=\"true\">Les plus récentes"));

    let (status, html) = page(&client, &format!("{}/proposals/{id}", app.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("La contribution #"), "{html}");
    assert!(html.contains("Retourner au débat"));
    assert!(html.contains("<span class=\"badge\">Compte vérifié</span>"));
    assert!(html.contains(", <time datetime=") && html.contains("title=\"UTC\">le "));
    assert!(html.contains("<h2 id=\"arguments-for-count\">1 argument pour</h2>"));
    assert!(html.contains("<h2 id=\"arguments-against-count\">Aucun argument contre</h2>"));
    assert!(html.contains("Les usagers gagnent du temps."));
    assert!(html.contains("Aucune source déposée"));
    assert!(html.contains("<strong>en temps réel</strong>"));
    assert!(
        !html.contains("id=\"argument-form\""),
        "no form for anonymous readers"
    );

    let response = client
        .get(format!("{}/", app.url))
        .header(ACCEPT_LANGUAGE, "en")
        .send()
        .await
        .expect("english home");
    let english = response.text().await.expect("body");
    assert!(english.contains("<html lang=\"en\">") && english.contains("Open consultations"));
    let response = client
        .get(format!("{}/proposals/{id}", app.url))
        .header(ACCEPT_LANGUAGE, "en-GB,en;q=0.9,fr;q=0.5")
        .send()
        .await
        .expect("english page");
    let english = response.text().await.expect("body");
    assert!(english.contains("<html lang=\"en\">"));
    assert!(english.contains("Contribution #"));
    assert!(english.contains(">1 argument for</h2>"));
    assert!(english.contains(">No argument against</h2>"));
    assert!(english.contains("No source yet"));
    assert!(english.contains("title=\"UTC\">on "));

    // The switch in the header sets a cookie that wins over the browser's preference.
    let response = client
        .get(format!("{}/lang/en?next=/consultations/mobilite", app.url))
        .send()
        .await
        .expect("switch");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/consultations/mobilite");
    let (_, switched) = page(&client, &format!("{}/consultations/mobilite", app.url)).await;
    assert!(switched.contains("<html lang=\"en\">") && switched.contains("Sign in to take part"));
    let response = client
        .get(format!("{}/lang/fr?next=https://evil.example/", app.url))
        .send()
        .await
        .expect("switch back");
    assert_eq!(location(&response), "/", "only same-site targets");

    let (status, missing) = page(&client, &format!("{}/proposals/99999", app.url)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing.contains("Page introuvable") && missing.contains("<html lang=\"fr\">"));
    let (status, _) = page(&client, &format!("{}/proposals/abc", app.url)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, css) = page(&client, &format!("{}/static/style.css", app.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(css.contains(":focus-visible"));

    let (status, profile) = page(&client, &format!("{}/users/mobilite-org", app.url)).await;
    assert_eq!(status, StatusCode::OK);
    let host = app.url.trim_start_matches("http://");
    assert!(profile.contains(&format!("@mobilite-org@{host}")));
    assert!(profile.contains("class=\"badge\""));
}

#[tokio::test]
async fn sign_up_then_log_out_and_in_again() {
    let app = TestApp::spawn().await;
    let client = browser();
    let response = client
        .get(format!("{}/signup", app.url))
        .send()
        .await
        .expect("signup");
    assert_eq!(response.status(), StatusCode::OK);
    let csrf_cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("palabre_csrf="))
        .expect("a CSRF cookie on the first page")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(csrf_cookie.contains(attribute), "{csrf_cookie}");
    }
    let html = response.text().await.expect("body");
    assert!(html.contains("<label for=\"password_confirm\">"));
    let csrf = csrf_of(&html);

    let response = post_form(
        &client,
        &format!("{}/signup", app.url),
        &[
            ("csrf", &csrf),
            ("username", "camille"),
            ("display_name", "Camille D."),
            ("password", PASSWORD),
            ("password_confirm", "something else"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.expect("body");
    assert!(
        body.contains("role=\"alert\"") && body.contains("mots de passe ne sont pas identiques")
    );

    let response = post_form(
        &client,
        &format!("{}/signup", app.url),
        &[
            ("csrf", &csrf),
            ("username", "camille"),
            ("display_name", "Camille D."),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("palabre_session="))
        .expect("session cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );

    let (_, home) = page(&client, &format!("{}/", app.url)).await;
    assert!(home.contains("Connecté en tant que"), "{home}");
    assert!(home.contains("Camille D."));

    let response = post_form(&client, &format!("{}/logout", app.url), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, home) = page(&client, &format!("{}/", app.url)).await;
    assert!(!home.contains("Connecté en tant que"));
    assert!(home.contains("Se connecter"));

    let (_, login) = page(&client, &format!("{}/login?next=/users/camille", app.url)).await;
    assert!(login.contains("id=\"username\"") && login.contains("id=\"password\""));
    let response = post_form(
        &client,
        &format!("{}/login", app.url),
        &[
            ("csrf", &csrf),
            ("username", "camille"),
            ("password", "wrong password"),
            ("next", "/"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = response.text().await.expect("body");
    assert!(
        body.contains("Nom d&#x27;utilisateur ou mot de passe incorrect")
            || body.contains("Nom d&#39;utilisateur ou mot de passe incorrect"),
        "{body}"
    );

    let response = post_form(
        &client,
        &format!("{}/login", app.url),
        &[
            ("csrf", &csrf),
            ("username", "camille"),
            ("password", PASSWORD),
            ("next", "//evil.example/"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/", "a foreign next is ignored");
    let response = post_form(
        &client,
        &format!("{}/login", app.url),
        &[
            ("csrf", &csrf),
            ("username", "camille"),
            ("password", PASSWORD),
            ("next", "/users/camille"),
        ],
    )
    .await;
    assert_eq!(location(&response), "/users/camille");
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = debate(&app, "csrf").await;
    app.create_user("dominique", Role::Member, None).await;
    let client = browser();
    let csrf = sign_in(&app, &client, "dominique").await;
    let url = format!("{}/proposals/{id}/arguments", app.url);

    let response = post_form(&client, &url, &[("stance", "for"), ("body", "Sans jeton")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = response.text().await.expect("body");
    assert!(
        body.contains("Le formulaire a expiré") && body.contains("Rechargez la page"),
        "{body}"
    );

    let forged = format!("{}x", &csrf[..csrf.len() - 1]);
    let response = post_form(
        &client,
        &url,
        &[("csrf", &forged), ("stance", "for"), ("body", "Jeton faux")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // A browser without the cookie (another site's form) is refused even with a token.
    let response = post_form(
        &browser(),
        &url,
        &[("csrf", &csrf), ("stance", "for"), ("body", "x")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let proposal = proposal_json(&app, id).await;
    assert_eq!(proposal["counts"]["arguments_for"], 1);
    assert_eq!(proposal["arguments_for"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn posting_an_argument_moves_the_count() {
    let app = TestApp::spawn().await;
    let id = debate(&app, "arguments").await;
    app.create_user("eliott", Role::Member, None).await;
    let client = browser();
    sign_in(&app, &client, "eliott").await;

    let (_, html) = page(&client, &format!("{}/proposals/{id}", app.url)).await;
    for marker in [
        "id=\"argument-form\"",
        "id=\"stance-for\"",
        "id=\"stance-against\"",
        "id=\"argument-body\"",
        "id=\"argument-submit\"",
    ] {
        assert!(html.contains(marker), "missing {marker}");
    }
    assert!(html.contains(">Aucun argument contre</h2>"));
    let csrf = csrf_of(&html);

    let response = post_form(
        &client,
        &format!("{}/proposals/{id}/arguments", app.url),
        &[
            ("csrf", &csrf),
            ("stance", "against"),
            ("body", "Le coût de maintenance est élevé."),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let target = location(&response);
    assert!(
        target.starts_with(&format!("/proposals/{id}#argument-")),
        "{target}"
    );
    let argument_id = target.rsplit('-').next().expect("argument id").to_owned();

    let (_, html) = page(&client, &format!("{}/proposals/{id}", app.url)).await;
    assert!(html.contains(">1 argument contre</h2>"), "{html}");
    assert!(html.contains(">1 argument pour</h2>"));
    assert!(html.contains(&format!("id=\"argument-{argument_id}\"")));
    assert!(html.contains("Le coût de maintenance est élevé."));
    assert!(
        html.contains(&format!("href=\"/arguments/{argument_id}/edit\"")),
        "authors may edit"
    );

    // The argument's stable address leads to its place on the proposal page.
    let response = client
        .get(format!("{}/arguments/{argument_id}", app.url))
        .send()
        .await
        .expect("argument url");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&response),
        format!("/proposals/{id}#argument-{argument_id}")
    );

    // Voting through the three buttons marks the choice.
    let response = post_form(
        &client,
        &format!("{}/proposals/{id}/vote", app.url),
        &[("csrf", &csrf), ("value", "mixed")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&client, &format!("{}/proposals/{id}", app.url)).await;
    assert!(html.contains("value=\"mixed\" aria-pressed=\"true\""));
    assert!(html.contains("value=\"withdraw\""));

    // Sources move from "none" to a link with the right rel.
    let response = post_form(
        &client,
        &format!("{}/proposals/{id}/sources", app.url),
        &[
            ("csrf", &csrf),
            ("title", "Rapport"),
            ("url", "https://example.org/rapport"),
            ("description", ""),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&client, &format!("{}/proposals/{id}", app.url)).await;
    assert!(!html.contains("Aucune source déposée"));
    assert!(html.contains("href=\"https://example.org/rapport\" rel=\"nofollow ugc noopener\""));
}

#[tokio::test]
async fn a_closed_consultation_shows_the_closed_message_instead_of_forms() {
    let app = TestApp::spawn().await;
    let id = debate(&app, "fermee").await;
    let admin = app.token("fermee-admin").await;
    let now = chrono::Utc::now();
    let (status, body) = app
        .api(
            Method::PATCH,
            "/api/v1/consultations/fermee",
            Some(&admin),
            Some(json!({
                "opens_at": (now - chrono::Duration::days(10)).to_rfc3339(),
                "closes_at": (now - chrono::Duration::days(1)).to_rfc3339(),
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.create_user("farida", Role::Member, None).await;
    let client = browser();
    let csrf = sign_in(&app, &client, "farida").await;

    let (status, html) = page(&client, &format!("{}/proposals/{id}", app.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("La période de participation est maintenant fermée. Merci à tous d&#x27;avoir participé.") || html.contains("La période de participation est maintenant fermée. Merci à tous d&#39;avoir participé."), "{html}");
    assert!(html.contains("La consultation est fermée"));
    assert!(!html.contains("id=\"argument-form\""));
    assert!(!html.contains("id=\"vote-form\""));

    let (_, consultation) = page(&client, &format!("{}/consultations/fermee", app.url)).await;
    assert!(consultation.contains("La consultation est fermée"));
    assert!(!consultation.contains("id=\"proposal-form\""));

    // A form posted anyway (an old tab) gets the page back with the reason, and a 409.
    let response = post_form(
        &client,
        &format!("{}/proposals/{id}/arguments", app.url),
        &[("csrf", &csrf), ("stance", "for"), ("body", "Trop tard")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body = response.text().await.expect("body");
    assert!(
        body.contains("role=\"alert\"") && body.contains("La période de participation est fermée.")
    );
    assert_eq!(proposal_json(&app, id).await["counts"]["arguments_for"], 1);
}

#[tokio::test]
async fn bad_form_input_gets_a_400_page_with_a_message() {
    let app = TestApp::spawn().await;
    let id = debate(&app, "saisie").await;
    app.create_user("gael", Role::Member, None).await;
    let client = browser();
    let csrf = sign_in(&app, &client, "gael").await;
    let arguments = format!("{}/proposals/{id}/arguments", app.url);

    let response = post_form(
        &client,
        &arguments,
        &[("csrf", &csrf), ("body", "Sans position")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.expect("body");
    assert!(
        body.contains("role=\"alert\"") && body.contains("pour ou contre"),
        "{body}"
    );
    assert!(
        body.contains("Sans position"),
        "what was typed is given back"
    );

    let response = post_form(
        &client,
        &arguments,
        &[("csrf", &csrf), ("stance", "for"), ("body", "   ")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("Le texte est obligatoire.")
    );

    let response = post_form(
        &client,
        &format!("{}/proposals/{id}/vote", app.url),
        &[("csrf", &csrf), ("value", "bof")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("role=\"alert\"")
    );

    // A field that cannot be read at all gets the error page, not a plain-text rejection.
    let response = post_form(
        &client,
        &format!("{}/proposals/{id}/hide", app.url),
        &[("csrf", &csrf), ("hidden", "peut-être")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    let body = response.text().await.expect("body");
    assert!(
        body.contains("Saisie invalide.") && body.contains("hidden"),
        "{body}"
    );

    let response = post_form(
        &client,
        &format!("{}/proposals/{id}/sources", app.url),
        &[
            ("csrf", &csrf),
            ("title", "Lien"),
            ("url", "javascript:alert(1)"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let (status, _) = page(
        &client,
        &format!("{}/consultations/saisie?sort=random", app.url),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(proposal_json(&app, id).await["counts"]["arguments_for"], 1);
}

#[tokio::test]
async fn organisers_create_consultations_and_answer_through_the_forms() {
    let app = TestApp::spawn().await;
    app.create_user("hana", Role::Admin, None).await;
    app.create_user("ines", Role::Member, None).await;
    let member = browser();
    sign_in(&app, &member, "ines").await;
    let (status, _) = page(&member, &format!("{}/consultations/new", app.url)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let admin = browser();
    let csrf = sign_in(&app, &admin, "hana").await;
    let (_, home) = page(&admin, &format!("{}/", app.url)).await;
    assert!(home.contains("href=\"/consultations/new\""));
    let (status, form) = page(&admin, &format!("{}/consultations/new", app.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("type=\"datetime-local\"") && form.contains("UTC"));
    let now = chrono::Utc::now();
    let opens = (now - chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let closes = (now + chrono::Duration::days(20))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let fields = [
        ("csrf", csrf.as_str()),
        ("slug", "budget"),
        ("title", "Budget participatif"),
        ("body", "Quels projets *financer* ?"),
        ("themes", "budget, quartiers"),
        ("opens_at", opens.as_str()),
        ("closes_at", "not a date"),
    ];
    let response = post_form(&admin, &format!("{}/consultations", app.url), &fields).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("date invalide")
    );
    let mut fields = fields;
    fields[6] = ("closes_at", closes.as_str());
    let response = post_form(&admin, &format!("{}/consultations", app.url), &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/consultations/budget");
    let (_, html) = page(&admin, &format!("{}/consultations/budget", app.url)).await;
    assert!(html.contains("Budget participatif") && html.contains("quartiers"));

    // A member posts a proposal through the form; the organiser answers it.
    let member_csrf = csrf_of(
        &page(&member, &format!("{}/consultations/budget", app.url))
            .await
            .1,
    );
    let response = post_form(
        &member,
        &format!("{}/consultations/budget/proposals", app.url),
        &[
            ("csrf", &member_csrf),
            ("title", "Un jardin partagé"),
            ("body", "Dans le parc."),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let target = location(&response);
    let id = target.trim_start_matches("/proposals/").to_owned();
    let response = post_form(
        &admin,
        &format!("{}/proposals/{id}/answer", app.url),
        &[
            ("csrf", &csrf),
            ("state", "accepted"),
            ("answer", "Nous le **ferons**."),
            ("duplicate_of", ""),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&member, &format!("{}{target}", app.url)).await;
    assert!(html.contains("Réponse officielle") && html.contains("Retenue"));
    assert!(html.contains("<strong>ferons</strong>"));
    assert!(
        !html.contains("id=\"answer-form\""),
        "only admins see the answer form"
    );
}

#[tokio::test]
async fn authors_change_their_own_arguments_and_moderators_hide_them() {
    let app = TestApp::spawn().await;
    let id = debate(&app, "moderer").await;
    app.create_user("jules", Role::Member, None).await;
    app.create_user("karim", Role::Moderator, None).await;
    let author = browser();
    let csrf = sign_in(&app, &author, "jules").await;
    let response = post_form(
        &author,
        &format!("{}/proposals/{id}/arguments", app.url),
        &[("csrf", &csrf), ("stance", "for"), ("body", "Premier jet.")],
    )
    .await;
    let target = location(&response);
    let argument = target.rsplit('-').next().expect("argument id").to_owned();

    // Someone else gets no edit link and may not open the edit page.
    let moderator = browser();
    let mod_csrf = sign_in(&app, &moderator, "karim").await;
    let (_, html) = page(&moderator, &format!("{}/proposals/{id}", app.url)).await;
    assert!(!html.contains(&format!("/arguments/{argument}/edit")));
    let (status, _) = page(
        &moderator,
        &format!("{}/arguments/{argument}/edit", app.url),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, form) = page(&author, &format!("{}/arguments/{argument}/edit", app.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("Premier jet.") && form.contains("value=\"for\" required checked"));
    let response = post_form(
        &author,
        &format!("{}/arguments/{argument}/edit", app.url),
        &[
            ("csrf", &csrf),
            ("stance", "against"),
            ("body", "Version revue."),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&author, &format!("{}/proposals/{id}", app.url)).await;
    assert!(html.contains("Version revue.") && html.contains(">1 argument contre</h2>"));

    let response = post_form(
        &moderator,
        &format!("{}/arguments/{argument}/hide", app.url),
        &[
            ("csrf", &mod_csrf),
            ("hidden", "true"),
            ("proposal", &id.to_string()),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&moderator, &format!("{}/proposals/{id}", app.url)).await;
    assert!(html.contains("Masqué par la modération") && html.contains("Version revue."));
    assert!(
        html.contains(">Aucun argument contre</h2>"),
        "hidden arguments do not count"
    );
    let (_, public) = page(&browser(), &format!("{}/proposals/{id}", app.url)).await;
    assert!(!public.contains("Version revue."));

    // Members cannot hide; the refusal is shown on the proposal page.
    let response = post_form(
        &author,
        &format!("{}/proposals/{id}/hide", app.url),
        &[("csrf", &csrf), ("hidden", "true")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("Accès refusé.")
    );

    let response = post_form(
        &moderator,
        &format!("{}/arguments/{argument}/hide", app.url),
        &[
            ("csrf", &mod_csrf),
            ("hidden", "false"),
            ("proposal", &id.to_string()),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = post_form(
        &author,
        &format!("{}/arguments/{argument}/withdraw", app.url),
        &[("csrf", &csrf), ("proposal", &id.to_string())],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&author, &format!("{}/proposals/{id}", app.url)).await;
    assert!(!html.contains("Version revue."));
    let (status, _) = page(&author, &format!("{}/arguments/{argument}", app.url)).await;
    assert_eq!(status, StatusCode::GONE);
}

#[tokio::test]
async fn unknown_pages_get_an_html_404_and_unknown_api_routes_json() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(format!("{}/nulle-part", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::NOT_FOUND);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.text().await.unwrap().contains("Page introuvable"));
    let (status, body) = app
        .api(reqwest::Method::GET, "/api/v1/nulle-part", None, None)
        .await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
}

// ---- following consultations of other nodes ----
//
// A second node cannot be started from here (see `federation-tests/`): these tests cover the
// forms, their refusals and how mirrored content is shown, with mirrors written straight into
// the database the way `federation::follows` and the inbox store them.

const ORIGIN: &str = "https://ville.example";

/// The page with apostrophes as typed: the templates escape them (`&#39;` or `&#x27;`).
fn readable(html: &str) -> String {
    html.replace("&#x27;", "'").replace("&#39;", "'")
}

/// Makes `slug` (with its proposals and arguments) look like a consultation mirrored from
/// `ville.example`: slug `name@host`, `ap_id` on the consultation and on the given
/// contributions, `origin_state` "pending" on those posted here and not yet confirmed.
async fn make_mirror(
    app: &TestApp,
    slug: &str,
    from_origin: &[i64],
    pending: &[i64],
    arguments_from_origin: &[i64],
    arguments_pending: &[i64],
) -> String {
    use palabre::store::{argument, consultation, proposal};
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};

    let db = &app.state.db;
    let model = consultation::Entity::find()
        .filter(consultation::Column::Slug.eq(slug))
        .one(db)
        .await
        .expect("find consultation")
        .expect("consultation");
    let mirrored = format!("{slug}@ville.example");
    let mut active = model.into_active_model();
    active.slug = Set(mirrored.clone());
    active.ap_id = Set(Some(format!("{ORIGIN}/consultations/{slug}")));
    active.mirrored = Set(true);
    active.inbox = Set(Some(format!("{ORIGIN}/consultations/{slug}/inbox")));
    active.update(db).await.expect("mirror consultation");
    for (ids, remote) in [(from_origin, true), (pending, false)] {
        for id in ids {
            let id = i32::try_from(*id).expect("id");
            let model = proposal::Entity::find_by_id(id)
                .one(db)
                .await
                .expect("find proposal")
                .expect("proposal");
            let mut active = model.into_active_model();
            if remote {
                active.ap_id = Set(Some(format!("{ORIGIN}/ap/proposals/{id}")));
            } else {
                active.origin_state = Set(Some("pending".into()));
            }
            active.update(db).await.expect("mirror proposal");
        }
    }
    for (ids, remote) in [(arguments_from_origin, true), (arguments_pending, false)] {
        for id in ids {
            let id = i32::try_from(*id).expect("id");
            let model = argument::Entity::find_by_id(id)
                .one(db)
                .await
                .expect("find argument")
                .expect("argument");
            let mut active = model.into_active_model();
            if remote {
                active.ap_id = Set(Some(format!("{ORIGIN}/ap/arguments/{id}")));
            } else {
                active.origin_state = Set(Some("pending".into()));
            }
            active.update(db).await.expect("mirror argument");
        }
    }
    mirrored
}

async fn post_json(app: &TestApp, token: &str, path: &str, body: Value) -> i64 {
    let (status, created) = app.api(Method::POST, path, Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_i64().expect("id")
}

#[tokio::test]
async fn the_follow_form_is_for_signed_in_people_and_a_malformed_target_gets_a_400() {
    let app = TestApp::spawn().await;
    let token = app.user_token("jeanne", Role::Member).await;
    let client = browser();

    let (status, home) = page(&client, &format!("{}/", app.url)).await;
    assert_eq!(status, StatusCode::OK);
    let home = readable(&home);
    assert!(
        !home.contains("id=\"follow-form\"") && !home.contains("action=\"/follows"),
        "no follow form for visitors"
    );
    assert!(!home.contains("Suivre une consultation d'un autre nœud"));

    let csrf = sign_in(&app, &client, "jeanne").await;
    let (_, home) = page(&client, &format!("{}/", app.url)).await;
    let home = readable(&home);
    assert!(
        home.contains("Suivre une consultation d'un autre nœud"),
        "{home}"
    );
    assert!(home.contains("id=\"follow-form\"") && home.contains("name=\"target\""));
    assert!(home.contains("<label for=\"follow-target\">"));
    assert!(home.contains("placeholder=\"consultation@ville.example\""));
    assert!(home.contains("Vous ne suivez aucune consultation d'un autre nœud"));

    let response = post_form(
        &client,
        &format!("{}/follows", app.url),
        &[("csrf", &csrf), ("target", "pas-un-handle")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    let body = response.text().await.expect("body");
    assert!(body.contains("role=\"alert\""), "{body}");
    assert!(
        body.contains("Saisie invalide.") && body.contains("nom@hôte"),
        "{body}"
    );
    assert!(
        body.contains("value=\"pas-un-handle\"") && body.contains("aria-invalid=\"true\""),
        "what was typed is given back"
    );
    assert!(
        body.contains("Consultations ouvertes"),
        "the home page again"
    );

    let response = client
        .post(format!("{}/follows", app.url))
        .header(ACCEPT_LANGUAGE, "en")
        .form(&[("csrf", csrf.as_str()), ("target", "@nobody")])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.expect("body");
    assert!(
        body.contains("Invalid input.") && body.contains("name@host"),
        "{body}"
    );

    let (status, follows) = app
        .api(Method::GET, "/api/v1/follows", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(follows, json!([]));
}

#[tokio::test]
async fn a_follow_or_unfollow_without_the_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.user_token("karim", Role::Member).await;
    let client = browser();
    sign_in(&app, &client, "karim").await;

    let response = post_form(
        &client,
        &format!("{}/follows", app.url),
        &[("target", "budget@ville.example")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("Le formulaire a expiré")
    );
    let response = post_form(&client, &format!("{}/follows/1/delete", app.url), &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let (_, follows) = app
        .api(Method::GET, "/api/v1/follows", Some(&token), None)
        .await;
    assert_eq!(follows, json!([]));
}

#[tokio::test]
async fn follows_are_listed_on_the_home_page_and_can_be_stopped() {
    use palabre::store::{account, follow};
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

    let app = TestApp::spawn().await;
    let admin = app.user_token("budget-admin", Role::Admin).await;
    app.consultation(&admin, "budget", 30).await;
    let mirrored = make_mirror(&app, "budget", &[], &[], &[], &[]).await;
    let token = app.user_token("lea", Role::Member).await;
    let lea = account::Entity::find()
        .filter(account::Column::Username.eq("lea"))
        .one(&app.state.db)
        .await
        .expect("find")
        .expect("lea");
    let consultation = palabre::store::consultation::Entity::find()
        .filter(palabre::store::consultation::Column::Slug.eq(&mirrored))
        .one(&app.state.db)
        .await
        .expect("find")
        .expect("mirror");
    let row = follow::ActiveModel {
        follower_id: Set(lea.id),
        consultation_id: Set(consultation.id),
        activity_id: Set(format!("{}/activities/follow/test", app.url)),
        state: Set("pending".into()),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .expect("follow");

    let client = browser();
    let csrf = sign_in(&app, &client, "lea").await;
    let (_, home) = page(&client, &format!("{}/", app.url)).await;
    assert!(
        home.contains("href=\"/consultations/budget@ville.example\">Consultation budget</a>"),
        "{home}"
    );
    assert!(home.contains("en attente") && home.contains("follow-pending"));
    assert!(home.contains(&format!("action=\"/follows/{}/delete#follows\"", row.id)));

    // Someone else's follow is not theirs to stop.
    app.create_user("marc", Role::Member, None).await;
    let other = browser();
    let other_csrf = sign_in(&app, &other, "marc").await;
    let response = post_form(
        &other,
        &format!("{}/follows/{}/delete", app.url, row.id),
        &[("csrf", &other_csrf)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("role=\"alert\"")
    );

    let response = post_form(
        &client,
        &format!("{}/follows/{}/delete", app.url, row.id),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    let (_, follows) = app
        .api(Method::GET, "/api/v1/follows", Some(&token), None)
        .await;
    assert_eq!(follows, json!([]));
    let (_, home) = page(&client, &format!("{}/", app.url)).await;
    assert!(readable(&home).contains("Vous ne suivez aucune consultation d'un autre nœud"));
}

#[tokio::test]
async fn mirrored_content_says_where_it_came_from_and_has_no_organiser_controls() {
    let app = TestApp::spawn().await;
    let admin = app.user_token("budget-admin", Role::Admin).await;
    app.consultation(&admin, "budget", 30).await;
    let author = app.user_token("noe", Role::Member).await;
    let proposals = "/api/v1/consultations/budget/proposals";
    let remote = post_json(
        &app,
        &author,
        proposals,
        json!({"title": "Venue d'ailleurs", "body": "Texte."}),
    )
    .await;
    let pending = post_json(
        &app,
        &author,
        proposals,
        json!({"title": "Postée ici", "body": "Texte."}),
    )
    .await;
    let remote_argument = post_json(
        &app,
        &author,
        &format!("/api/v1/proposals/{remote}/arguments"),
        json!({"stance": "for", "body": "Argument venu d'ailleurs."}),
    )
    .await;
    let pending_argument = post_json(
        &app,
        &author,
        &format!("/api/v1/proposals/{remote}/arguments"),
        json!({"stance": "against", "body": "Argument posté ici."}),
    )
    .await;
    let slug = make_mirror(
        &app,
        "budget",
        &[remote],
        &[pending],
        &[remote_argument],
        &[pending_argument],
    )
    .await;

    app.create_user("orga", Role::Admin, None).await;
    let client = browser();
    sign_in(&app, &client, "orga").await;

    let (_, home) = page(&client, &format!("{}/", app.url)).await;
    assert!(
        home.contains("<p class=\"origin\">hébergée sur ville.example</p>"),
        "{home}"
    );

    let (status, html) = page(&client, &format!("{}/consultations/{slug}", app.url)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("hébergée sur ville.example"), "{html}");
    let html = readable(&html);
    assert!(
        html.contains(&format!(
            "<a href=\"{ORIGIN}/consultations/budget\" rel=\"nofollow noopener\">Voir sur son nœud d'origine</a>"
        )),
        "{html}"
    );
    assert!(
        !html.contains("Modifier la consultation") && !html.contains("/edit\""),
        "no edit link on a mirror"
    );
    assert!(html.contains("<span class=\"origin\">depuis ville.example</span>"));
    assert!(html.contains("en attente de validation par le nœud d'origine"));
    let (status, _) = page(&client, &format!("{}/consultations/{slug}/edit", app.url)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, html) = page(&client, &format!("{}/proposals/{remote}", app.url)).await;
    assert!(html.contains("href=\"/consultations/budget@ville.example\""));
    assert!(html.contains("depuis ville.example"));
    assert!(
        !html.contains("id=\"answer-form\""),
        "no official answer form on a mirror"
    );
    assert_eq!(
        html.matches("depuis ville.example").count(),
        2,
        "proposal and argument"
    );
    assert_eq!(
        html.matches("class=\"origin origin-pending\"").count(),
        1,
        "the argument posted here"
    );
    let (_, html) = page(&client, &format!("{}/proposals/{pending}", app.url)).await;
    assert!(html.contains("class=\"origin origin-pending\""));
    assert!(!html.contains("depuis ville.example"));

    let response = client
        .get(format!("{}/proposals/{remote}", app.url))
        .header(ACCEPT_LANGUAGE, "en")
        .send()
        .await
        .expect("english");
    let english = readable(&response.text().await.expect("body"));
    assert!(english.contains("from ville.example"));
    assert!(english.contains("awaiting its home node's confirmation"));

    // Local consultations keep their controls and have no origin label.
    app.consultation(&admin, "local", 30).await;
    let (_, html) = page(&client, &format!("{}/consultations/local", app.url)).await;
    assert!(html.contains("href=\"/consultations/local/edit\""));
    assert!(!html.contains("class=\"origin\""));
}

// ---- sign-in defences, sessions, CSRF on every form, cookie flags ----

/// A node without the rate limits (tested in tests/limits.rs), which these tests' many
/// sign-ins and posts would otherwise meet first.
async fn unlimited(configure: impl FnOnce(&mut palabre::config::Settings)) -> TestApp {
    TestApp::spawn_with(|settings| {
        for limit in [
            &mut settings.limits.signup,
            &mut settings.limits.login,
            &mut settings.limits.posting,
        ] {
            limit.requests = 0;
        }
        configure(settings);
    })
    .await
}

async fn login_attempt(
    app: &TestApp,
    client: &Client,
    username: &str,
    password: &str,
) -> (StatusCode, String) {
    let (_, html) = page(client, &format!("{}/login", app.url)).await;
    let csrf = csrf_of(&html);
    let response = post_form(
        client,
        &format!("{}/login", app.url),
        &[
            ("csrf", &csrf),
            ("username", username),
            ("password", password),
            ("next", "/"),
        ],
    )
    .await;
    let status = response.status();
    (status, readable(&response.text().await.expect("body")))
}

/// The text of the page's alert box, without its markup.
fn alert_of(html: &str) -> String {
    let start = html.find("role=\"alert\"").expect("an alert");
    let start = start + html[start..].find('>').expect("alert tag end") + 1;
    let end = start + html[start..].find("</div>").expect("alert end");
    let mut text = String::new();
    let mut in_tag = false;
    for c in html[start..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.trim().to_owned()
}

async fn set_account(
    app: &TestApp,
    username: &str,
    change: impl FnOnce(&mut palabre::store::account::ActiveModel),
) {
    use palabre::store::account;
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
    let row = account::Entity::find()
        .filter(account::Column::Username.eq(username))
        .one(&app.state.db)
        .await
        .expect("find")
        .expect("account");
    let mut active = row.into_active_model();
    change(&mut active);
    active.update(&app.state.db).await.expect("update account");
}

fn set_cookie_named(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

#[tokio::test]
async fn a_locked_account_is_refused_on_the_web_exactly_like_a_wrong_password() {
    use sea_orm::Set;
    let app = unlimited(|s| s.security.login_max_failures = 2).await;
    app.create_user("camille", Role::Member, None).await;
    let client = browser();
    let (status, unknown) = login_attempt(&app, &client, "personne", "mauvais-mot").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let refusal = alert_of(&unknown);
    assert_eq!(
        refusal,
        "Nom d'utilisateur ou mot de passe incorrect, ou trop de tentatives : réessayez plus tard"
    );
    for _ in 0..2 {
        let (status, html) = login_attempt(&app, &client, "camille", "mauvais-mot").await;
        assert_eq!(
            (status, alert_of(&html)),
            (StatusCode::UNAUTHORIZED, refusal.clone())
        );
    }
    // Locked: the right password gets the same page, on the web and through the API.
    let (status, html) = login_attempt(&app, &client, "camille", PASSWORD).await;
    assert_eq!(
        (status, alert_of(&html)),
        (StatusCode::UNAUTHORIZED, refusal.clone())
    );
    assert!(!html.contains("Connecté en tant que"));
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"username": "camille", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    set_account(&app, "camille", |a| {
        a.locked_until = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(1)));
    })
    .await;
    let (status, _) = login_attempt(&app, &client, "camille", PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the lockout is over");
}

#[tokio::test]
async fn signing_out_closes_the_session_on_the_server() {
    use palabre::store::session;
    use sea_orm::{EntityTrait, PaginatorTrait};
    let app = unlimited(|_| {}).await;
    app.create_user("camille", Role::Member, None).await;
    let client = browser();
    let (_, html) = page(&client, &format!("{}/login", app.url)).await;
    let csrf = csrf_of(&html);
    let response = post_form(
        &client,
        &format!("{}/login", app.url),
        &[
            ("csrf", &csrf),
            ("username", "camille"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie_named(&response, "palabre_session").expect("session cookie");
    let cookie = cookie.split(';').next().expect("name=value").to_owned();
    // The stolen cookie works from elsewhere while the session is open...
    let replay = |cookie: String| {
        let app_url = app.url.clone();
        async move {
            let response = reqwest::Client::new()
                .get(format!("{app_url}/"))
                .header("cookie", cookie)
                .send()
                .await
                .expect("GET");
            response.text().await.expect("body")
        }
    };
    assert!(
        replay(cookie.clone())
            .await
            .contains("Connecté en tant que")
    );

    let response = post_form(&client, &format!("{}/logout", app.url), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cleared = set_cookie_named(&response, "palabre_session").expect("cleared cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // ...and not after signing out: the session is gone from the database, not only from
    // this browser.
    assert!(!replay(cookie).await.contains("Connecté en tant que"));
    let sessions = session::Entity::find()
        .count(&app.state.db)
        .await
        .expect("count");
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn a_suspended_account_is_shown_why_then_signed_out() {
    use sea_orm::Set;
    let app = unlimited(|_| {}).await;
    app.create_user("camille", Role::Member, None).await;
    let client = browser();
    sign_in(&app, &client, "camille").await;
    set_account(&app, "camille", |a| {
        a.suspended_at = Set(Some(chrono::Utc::now()))
    })
    .await;

    let (status, html) = page(&client, &format!("{}/", app.url)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        html.contains("Ce compte est suspendu : il ne peut ni se connecter"),
        "{html}"
    );
    let (status, html) = page(&client, &format!("{}/", app.url)).await;
    assert_eq!(status, StatusCode::OK, "then an anonymous reader");
    assert!(html.contains("Se connecter") && !html.contains("Connecté en tant que"));

    let (status, html) = login_attempt(&app, &client, "camille", PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(alert_of(&html).contains("Ce compte est suspendu"), "{html}");
    let (status, html) = login_attempt(&app, &client, "camille", "mauvais-mot").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no hint without the password"
    );
    assert!(!html.contains("suspendu"));
}

#[tokio::test]
async fn cookies_are_secure_when_the_node_is_served_over_https() {
    for https in [false, true] {
        let app = unlimited(|s| {
            if https {
                s.server.public_url.set_scheme("https").expect("https");
            }
        })
        .await;
        app.create_user("camille", Role::Member, None).await;
        // No cookie store: a real browser would not send `Secure` cookies over this test's
        // plain http, so they are sent by hand.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let response = client
            .get(format!("{}/login", app.url))
            .send()
            .await
            .expect("login page");
        let csrf_cookie = set_cookie_named(&response, "palabre_csrf").expect("csrf cookie");
        let csrf = csrf_of(&response.text().await.expect("body"));
        let response = client
            .post(format!("{}/login", app.url))
            .header("cookie", format!("palabre_csrf={csrf}"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("username", "camille"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let session_cookie = set_cookie_named(&response, "palabre_session").expect("session");
        let response = client
            .get(format!("{}/lang/en", app.url))
            .send()
            .await
            .expect("language");
        let lang_cookie = set_cookie_named(&response, "lang").expect("lang cookie");
        for (cookie, same_site) in [
            (&csrf_cookie, "SameSite=Strict"),
            (&session_cookie, "SameSite=Lax"),
            (&lang_cookie, "SameSite=Lax"),
        ] {
            for attribute in ["HttpOnly", "Path=/", same_site] {
                assert!(cookie.contains(attribute), "{cookie}");
            }
            assert_eq!(cookie.contains("; Secure"), https, "{cookie}");
            assert!(!cookie.contains("Domain="), "host-only: {cookie}");
        }
    }
}

/// What the forms act on, made afresh for each form, all by the admin `orga`: with the right
/// token, every form of the site is then accepted from them.
struct FormTarget {
    n: usize,
    slug: String,
    proposal: i64,
    argument: i64,
    source: i64,
    follow: i32,
}

async fn form_target(app: &TestApp, admin: &str, n: usize) -> FormTarget {
    use palabre::store::{account, follow};
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
    let slug = format!("f-{n}");
    app.consultation(admin, &slug, 30).await;
    let proposal = post_json(
        app,
        admin,
        &format!("/api/v1/consultations/{slug}/proposals"),
        json!({"title": "Une proposition", "body": "Son texte."}),
    )
    .await;
    let argument = post_json(
        app,
        admin,
        &format!("/api/v1/proposals/{proposal}/arguments"),
        json!({"stance": "for", "body": "Un argument."}),
    )
    .await;
    let source = post_json(
        app,
        admin,
        &format!("/api/v1/proposals/{proposal}/sources"),
        json!({"title": "Une source", "url": "https://example.org/"}),
    )
    .await;
    let remote = format!("m-{n}");
    app.consultation(admin, &remote, 30).await;
    let mirrored = make_mirror(app, &remote, &[], &[], &[], &[]).await;
    let db = &app.state.db;
    let orga = account::Entity::find()
        .filter(account::Column::Username.eq("orga"))
        .one(db)
        .await
        .expect("find")
        .expect("orga");
    let consultation = palabre::store::consultation::Entity::find()
        .filter(palabre::store::consultation::Column::Slug.eq(&mirrored))
        .one(db)
        .await
        .expect("find")
        .expect("mirror");
    let follow = follow::ActiveModel {
        follower_id: Set(orga.id),
        consultation_id: Set(consultation.id),
        activity_id: Set(format!("{}/activities/follow/{n}", app.url)),
        state: Set("accepted".into()),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("follow");
    FormTarget {
        n,
        slug,
        proposal,
        argument,
        source,
        follow: follow.id,
    }
}

/// A form's fields, without the CSRF token.
type Fields = Vec<(&'static str, String)>;

/// Every POST route of the web pages, with fields that the form would send, and the answer
/// when the CSRF token is right. The path's `{id}` is the proposal's, argument's, source's or
/// follow's, after the path's first segment.
#[rustfmt::skip]
fn forms(t: &FormTarget) -> Vec<(&'static str, Fields, StatusCode)> {
    let now = chrono::Utc::now();
    let local = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%dT%H:%M").to_string();
    let (opens, closes) = (local(now - chrono::Duration::hours(1)), local(now + chrono::Duration::days(9)));
    let text = |s: &str| s.to_owned();
    let ok = StatusCode::SEE_OTHER;
    vec![
        ("/login", vec![("username", text("orga")), ("password", text(PASSWORD)), ("next", text("/"))], ok),
        ("/signup", vec![("username", format!("new-{}", t.n)), ("display_name", text("Nouveau")),
                         ("password", text(PASSWORD)), ("password_confirm", text(PASSWORD))], ok),
        ("/logout", vec![], ok),
        // A malformed target: past the token, the form is read and refused on its merits.
        ("/follows", vec![("target", text("pas une adresse"))], StatusCode::BAD_REQUEST),
        ("/follows/{id}/delete", vec![], ok),
        ("/consultations", vec![("slug", format!("new-c-{}", t.n)), ("title", text("Titre")),
                                ("body", text("Texte")), ("themes", text("")),
                                ("opens_at", opens.clone()), ("closes_at", closes.clone())], ok),
        ("/consultations/{slug}/edit", vec![("title", text("Autre titre")), ("body", text("Texte")),
                                           ("themes", text("")), ("opens_at", opens),
                                           ("closes_at", closes)], ok),
        ("/consultations/{slug}/proposals", vec![("title", text("Titre")), ("body", text("Texte"))], ok),
        ("/proposals/{id}/edit", vec![("title", text("Titre changé")), ("body", text("Texte"))], ok),
        ("/proposals/{id}/withdraw", vec![], ok),
        ("/proposals/{id}/hide", vec![("hidden", text("true"))], ok),
        ("/proposals/{id}/answer", vec![("state", text("accepted")), ("answer", text("Oui.")),
                                        ("duplicate_of", text(""))], ok),
        ("/proposals/{id}/vote", vec![("value", text("agree"))], ok),
        ("/proposals/{id}/arguments", vec![("stance", text("against")), ("body", text("Contre."))], ok),
        ("/proposals/{id}/sources", vec![("title", text("Source")), ("url", text("https://example.org/a")),
                                         ("description", text(""))], ok),
        ("/arguments/{id}/edit", vec![("stance", text("for")), ("body", text("Changé."))], ok),
        ("/arguments/{id}/withdraw", vec![], ok),
        ("/arguments/{id}/hide", vec![("hidden", text("true"))], ok),
        ("/sources/{id}/withdraw", vec![], ok),
        ("/sources/{id}/hide", vec![("hidden", text("true"))], ok),
    ]
}

fn form_path(template: &str, t: &FormTarget) -> String {
    let id = match template.split('/').nth(1) {
        Some("proposals") => t.proposal.to_string(),
        Some("arguments") => t.argument.to_string(),
        Some("sources") => t.source.to_string(),
        Some("follows") => t.follow.to_string(),
        _ => String::new(),
    };
    template.replace("{id}", &id).replace("{slug}", &t.slug)
}

/// Every `post(...)` route of `src/web/mod.rs`, read from the source: a new form route without
/// a row in `forms` fails the test below.
fn post_routes_in_the_router() -> std::collections::BTreeSet<String> {
    let source = include_str!("../src/web/mod.rs");
    source
        .split(".route(")
        .skip(1)
        .filter(|chunk| chunk.contains("post("))
        .filter_map(|chunk| chunk.split('"').nth(1).map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn every_form_refuses_a_post_without_the_right_csrf_token() {
    let app = unlimited(|_| {}).await;
    let admin = app.user_token("orga", Role::Admin).await;
    let probe = FormTarget {
        n: 0,
        slug: String::new(),
        proposal: 0,
        argument: 0,
        source: 0,
        follow: 0,
    };
    let tested: std::collections::BTreeSet<String> = forms(&probe)
        .iter()
        .map(|(path, _, _)| (*path).to_owned())
        .collect();
    assert_eq!(
        tested,
        post_routes_in_the_router(),
        "every POST route of src/web/mod.rs needs a row in `forms`, and only those"
    );

    let mut failures = Vec::new();
    for row in 0..forms(&probe).len() {
        let target = form_target(&app, &admin, row).await;
        let (template, fields, expected) = forms(&target).swap_remove(row);
        let url = format!("{}{}", app.url, form_path(template, &target));
        let client = browser();
        let csrf = sign_in(&app, &client, "orga").await;
        let forged = format!("{}x", &csrf[..csrf.len() - 1]);
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let with = |token: &str| {
            let mut all = vec![("csrf", token.to_owned())];
            all.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
            all
        };

        let before = snapshot::snapshot(&app.state.db).await;
        for (how, sent) in [
            (
                "without a token",
                fields.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            ),
            ("with a forged token", with(&forged)),
        ] {
            let response = client.post(&url).form(&sent).send().await.expect("POST");
            let status = response.status();
            let body = response.text().await.expect("body");
            if status != StatusCode::FORBIDDEN || !body.contains("Le formulaire a expiré") {
                failures.push(format!(
                    "{template} {how}: {status}, not the expired-form page"
                ));
            }
        }
        // Another site's form: the browser sends no CSRF cookie of ours with it.
        let response = browser()
            .post(&url)
            .form(&with(&csrf))
            .send()
            .await
            .expect("POST");
        if response.status() != StatusCode::FORBIDDEN {
            failures.push(format!(
                "{template} from another site: {}",
                response.status()
            ));
        }
        let after = snapshot::snapshot(&app.state.db).await;
        let changed = snapshot::changed_tables(&before, &after);
        if !changed.is_empty() {
            failures.push(format!("{template}: refused but changed {changed:?}"));
        }

        let response = client
            .post(&url)
            .form(&with(&csrf))
            .send()
            .await
            .expect("POST");
        let status = response.status();
        let body = response.text().await.expect("body");
        if status != expected || body.contains("Le formulaire a expiré") {
            failures.push(format!(
                "{template} with its token: expected {expected}, got {status}"
            ));
        }
        let changed = snapshot::changed_tables(&after, &snapshot::snapshot(&app.state.db).await);
        if status.is_redirection() && changed.is_empty() {
            failures.push(format!(
                "{template} with its token: accepted but changed nothing"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
