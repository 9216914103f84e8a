//! Markdown to safe HTML. Raw HTML in the Markdown is shown as text, never passed through, and
//! the result goes through ammonia's allow-list anyway, so no author can inject markup.
use pulldown_cmark::{Event, Options, Parser, html};

pub fn markdown_to_html(markdown: &str) -> String {
    let parser = Parser::new_ext(
        markdown,
        Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES,
    )
    .map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut unsafe_html = String::new();
    html::push_html(&mut unsafe_html, parser);
    sanitize_html(&unsafe_html)
}

/// Cleans HTML to a small allow-list; links get `rel="nofollow ugc noopener noreferrer"`.
pub fn sanitize_html(html: &str) -> String {
    ammonia::Builder::default()
        .link_rel(Some("nofollow ugc noopener noreferrer"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .clean(html)
        .to_string()
}

/// The text of some HTML, without any markup (for names and summaries from other servers).
pub fn html_to_text(html: &str) -> String {
    let stripped = ammonia::Builder::empty().clean(html).to_string();
    stripped
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_and_script_links_do_not_survive() {
        let html = markdown_to_html(
            "Bonjour <script>alert(1)</script> <img src=x onerror=alert(1)>\n\n[x](javascript:alert(1)) **gras**",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("<strong>gras</strong>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
