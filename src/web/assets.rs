//! The stylesheet, compiled into the binary so that a node is one file to deploy.
use std::sync::LazyLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use sha2::{Digest, Sha256};

const STYLE: &str = include_str!("../../static/style.css");

/// The stylesheet's URL carries a hash of its content, so browsers may keep it for long and
/// still get the new one right after an upgrade.
pub static STYLE_HREF: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(STYLE.as_bytes());
    let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("/static/style.css?v={short}")
});

pub async fn style() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=604800"),
        ],
        STYLE,
    )
}
