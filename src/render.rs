//! Markdown to safe HTML. Raw HTML in the Markdown is shown as text, never passed through, and
//! the result goes through ammonia's allow-list anyway, so no author can inject markup.
use pulldown_cmark::{Event, Options, Parser, html};

mod nesting;

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
    html::push_html(&mut unsafe_html, nesting::flatten_deep(parser));
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
    decode_text(
        &ammonia::Builder::empty()
            .clean(&nesting::bounded(html, &[]))
            .to_string(),
    )
}

/// The text of ammonia's output: the character references its serializer writes are decoded in
/// one pass, so that text that reads `&lt;` (written `&amp;lt;`) stays `&lt;`, and a no-break
/// space stays one (French puts one before `:`, `?` and `!`).
fn decode_text(html: &str) -> String {
    const REFERENCES: [(&str, char); 6] = [
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&#39;", '\''),
        ("&nbsp;", '\u{a0}'),
    ];
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (c, len) = REFERENCES
            .iter()
            .find(|(reference, _)| rest.starts_with(reference))
            .map_or(('&', 1), |(reference, c)| (*c, reference.len()));
        out.push(c);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
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
        .clean(&nesting::bounded(html, &["a", "p", "br"]))
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
                    .map(|(v, _)| decode_text(v))
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

/// Text of the HTML as Markdown that reads as that text and nothing more. Whitespace runs,
/// line ends included, collapse to one space as in HTML, and none starts a line: a line end or
/// an indent in the text could otherwise start a heading (`===`), a code block or a list. For
/// the same reason `-`, `+` and `=` are escaped at the start of a line, and the `.` or `)` of
/// `1.` or `1)`.
fn push_text(out: &mut String, html_text: &str) {
    for c in decode_text(html_text).chars() {
        if matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c') {
            if !(out.is_empty() || out.ends_with([' ', '\n'])) {
                out.push(' ');
            }
            continue;
        }
        let starts_block = match c {
            '-' | '+' | '=' => out.is_empty() || out.ends_with('\n'),
            '.' | ')' => {
                // Only the last ten bytes are looked at: a marker has at most nine digits.
                let digits = out.bytes().rev().take(10).take_while(u8::is_ascii_digit);
                let digits = digits.count();
                let before = out.len() - digits;
                (1..=9).contains(&digits) && (before == 0 || out.as_bytes()[before - 1] == b'\n')
            }
            _ => false,
        };
        if starts_block
            || matches!(
                c,
                '\\' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '!' | '&'
            )
        {
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

    // Found by the `markdown_html` fuzz target (fuzz/regressions/markdown_html/).
    #[test]
    fn html_to_text_decodes_once_and_keeps_no_break_spaces() {
        assert_eq!(
            html_to_text("<p>&amp;lt;b&amp;gt; &lt;i&gt; &amp;amp;</p>"),
            "&lt;b&gt; <i> &amp;"
        );
        assert_eq!(
            html_to_text("Vélo\u{a0}: le budget&nbsp;?"),
            "Vélo\u{a0}: le budget\u{a0}?"
        );
    }

    #[test]
    fn remote_text_does_not_become_lists_headings_or_code() {
        let markdown = remote_html_to_markdown(
            "<p>1. un<br>2) deux</p><p>- liste</p><p>Titre<br>===</p><p>    code\n+ plus</p>",
        );
        let html = markdown_to_html(&markdown);
        for block in ["<ol", "<ul", "<li", "<h1", "<h2", "<pre", "<code", "<hr"] {
            assert!(!html.contains(block), "{block} in {html} from {markdown:?}");
        }
        for text in ["1. un", "2) deux", "- liste", "Titre", "===", "code + plus"] {
            assert!(html.contains(text), "{text} missing from {html}");
        }
    }
}
