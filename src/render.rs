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

/// Markdown for HTML from another server (a Mastodon reply): paragraphs, line breaks and links
/// (mentions and hashtags are links) survive; every other tag, script and attribute is dropped
/// first by ammonia, and the text is escaped so that it cannot turn into Markdown markup.
pub fn remote_html_to_markdown(html: &str) -> String {
    let cleaned = ammonia::Builder::empty()
        .add_tags(["a", "p", "br"])
        .add_tag_attributes("a", ["href"])
        .url_schemes(["http", "https"].into_iter().collect())
        .link_rel(None)
        .clean(html)
        .to_string();
    let mut out = String::new();
    let mut rest = cleaned.as_str();
    let mut link: Option<String> = None;
    while let Some(start) = rest.find('<') {
        push_text(&mut out, &rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[start + 1..start + end];
        rest = &rest[start + end + 1..];
        match tag {
            "p" => {}
            "/p" => out.push_str("\n\n"),
            "br" | "br /" => out.push_str("  \n"),
            "/a" => {
                if let Some(href) = link.take() {
                    out.push_str(&format!("](<{href}>)"));
                }
            }
            t if t.starts_with("a ") || t == "a" => {
                // Only absolute http(s) addresses, written back by the URL parser: no spaces,
                // newlines or brackets that could end the link and start Markdown of its own.
                let href = t
                    .split_once("href=\"")
                    .and_then(|(_, v)| v.split_once('"'))
                    .map(|(v, _)| v.replace("&amp;", "&"))
                    .and_then(|v| url::Url::parse(v.trim()).ok())
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .map(|u| u.as_str().replace('>', "%3E").replace('<', "%3C"));
                if let Some(href) = href {
                    out.push('[');
                    link = Some(href);
                }
            }
            _ => {}
        }
    }
    push_text(&mut out, rest);
    if let Some(href) = link {
        out.push_str(&format!("](<{href}>)"));
    }
    out.trim().to_owned()
}

fn push_text(out: &mut String, html_text: &str) {
    let text = html_text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '!' | '&'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_address_cannot_smuggle_markdown() {
        let markdown = remote_html_to_markdown(
            "<p><a href=\"https://a.example/x&#10;![t](https://tracker.example/p.png)\">x</a> <a href=\"//evil.example\">y</a> <a href=\"/logout\">z</a></p>",
        );
        let html = markdown_to_html(&markdown);
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("href=\"//evil"), "{html}");
        assert!(!html.contains("href=\"/logout"), "{html}");
    }

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

    #[test]
    fn a_mastodon_reply_keeps_its_links_and_loses_its_scripts() {
        let markdown = remote_html_to_markdown(
            "<p><span class=\"h-card\"><a href=\"https://n.example/@c\" class=\"u-url mention\">@<span>c</span></a></span> Oui *vraiment* <a href=\"https://m.example/tags/pour\" class=\"mention hashtag\" rel=\"tag\">#<span>pour</span></a></p><p>2<br>3<script>alert(1)</script><a href=\"javascript:alert(1)\" onclick=\"x()\">clic</a><img src=x onerror=alert(1)></p>",
        );
        let html = markdown_to_html(&markdown);
        assert!(html.contains("<a href=\"https://n.example/@c\""), "{html}");
        assert!(html.contains(">#pour</a>"), "{html}");
        assert!(html.contains("*vraiment*"), "{html}");
        assert!(html.contains("<br"), "{html}");
        for bad in [
            "<script",
            "javascript:",
            "onclick",
            "onerror",
            "<img",
            "alert(1)<",
        ] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
    }
}
