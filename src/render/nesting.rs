//! Keeps the HTML parser's work linear. html5ever (under ammonia) walks its stack of open
//! elements for most tags, so its work grows with the square of the nesting depth: 8 000
//! nested `<div>`, `<b id=…>` or `<ul><li>` take seconds to minutes, and a proposal's
//! HTML from another server may hold 200 000 of them in its 1 MiB. HTML with more tags than a
//! post needs loses its tags in one linear pass before the parser sees it; Markdown nested
//! deeper than any document needs is flattened before it becomes HTML.
use std::borrow::Cow;

use pulldown_cmark::Event;

/// HTML from another server with more tags than this is stripped before it is parsed. A
/// Mastodon post has a few dozen; at this many, even fully nested, parsing takes milliseconds.
pub(super) const PARSED_TAGS_MAX: usize = 500;

/// Markdown containers (quotes, lists, items) nested deeper than this lose their markup, and
/// their text joins the container above.
pub(super) const MARKDOWN_NESTING_MAX: usize = 32;

/// `html` as it is when it has at most [`PARSED_TAGS_MAX`] tags; otherwise without any tag but
/// those named in `keep` (kept as written: the sanitizer still cleans them), and without the
/// content of `script` and `style`, as the sanitizer would drop it.
pub(super) fn bounded<'a>(html: &'a str, keep: &[&str]) -> Cow<'a, str> {
    let tags = html
        .as_bytes()
        .windows(2)
        .filter(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || w[1] == b'/'))
        .count();
    if tags <= PARSED_TAGS_MAX {
        Cow::Borrowed(html)
    } else {
        Cow::Owned(strip_tags(html, keep))
    }
}

fn strip_tags(html: &str, keep: &[&str]) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let closing = rest[1..].starts_with('/');
        let name: String = rest[if closing { 2 } else { 1 }..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let is_tag = name.starts_with(|c: char| c.is_ascii_alphabetic())
            || rest[1..].starts_with(['!', '?', '/']);
        if !is_tag {
            // Escaped, so that it cannot form a tag with what follows once a tag is taken out
            // (`<<b>div>` would become `<div>`); the parser reads `&lt;` as the same text.
            out.push_str("&lt;");
            rest = &rest[1..];
            continue;
        }
        let end = tag_end(rest);
        let tag = &rest[..end];
        rest = &rest[end..];
        if !closing && matches!(name.as_str(), "script" | "style") {
            let close = format!("</{name}");
            rest = match rest
                .as_bytes()
                .windows(close.len())
                .position(|w| w.eq_ignore_ascii_case(close.as_bytes()))
            {
                Some(at) => &rest[at + tag_end(&rest[at..])..],
                None => "",
            };
        } else if keep.contains(&name.as_str()) {
            out.push_str(tag);
        }
    }
    out.push_str(rest);
    out
}

/// The length of the tag `rest` starts with, up to its `>` (not one inside a quoted attribute
/// value), or all of `rest` when it does not end.
fn tag_end(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') if bytes[i - 1] == b'=' => quote = Some(b),
            (None, b'>') => return i + 1,
            _ => {}
        }
    }
    bytes.len()
}

/// The events of a Markdown document with the containers nested deeper than
/// [`MARKDOWN_NESTING_MAX`] left out (their start and their end; their text stays).
pub(super) fn flatten_deep<'a>(
    events: impl Iterator<Item = Event<'a>>,
) -> impl Iterator<Item = Event<'a>> {
    // One entry a container open: whether its markup is left out.
    let mut open: Vec<bool> = Vec::new();
    events.filter_map(move |event| match event {
        Event::Start(tag) => {
            let dropped = open.len() >= MARKDOWN_NESTING_MAX;
            open.push(dropped);
            (!dropped).then_some(Event::Start(tag))
        }
        Event::End(tag) => match open.pop() {
            Some(true) => None,
            _ => Some(Event::End(tag)),
        },
        other => Some(other),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::render::{html_to_text, markdown_to_html, remote_html_to_markdown};

    #[test]
    fn ordinary_html_is_left_alone_and_tag_soup_keeps_its_text() {
        let post = "<p>Un <a href=\"https://a.example/\">lien</a></p>";
        assert!(matches!(bounded(post, &[]), Cow::Borrowed(_)));
        let soup = format!(
            "<!-- <p> -->{}<a title=\"a>b\" href=\"https://a.example/\">lien</a><script>x<p></script>fin<STYLE>p{{}}</style>",
            "<div>mot ".repeat(PARSED_TAGS_MAX)
        );
        let stripped = bounded(&soup, &["a"]);
        assert!(stripped.starts_with("mot mot "), "{stripped}");
        assert!(
            stripped.ends_with("<a title=\"a>b\" href=\"https://a.example/\">lien</a>fin"),
            "{stripped}"
        );
        assert_eq!(
            strip_tags("a < b <3 <!doctype html><br/>c<?x?>", &[]),
            "a &lt; b &lt;3 c"
        );
        // Tags that would form again once the tags inside them are taken out do not.
        let reformed = "<<b>div>".repeat(PARSED_TAGS_MAX + 1);
        assert_eq!(
            bounded(&reformed, &[]),
            "&lt;div>".repeat(PARSED_TAGS_MAX + 1)
        );
    }

    #[test]
    fn deeply_nested_html_and_markdown_are_read_in_linear_time() {
        // Each of these took minutes before (a few seconds for 8 000 levels, in a debug build).
        let started = Instant::now();
        for tag in ["<div>", "<ul><li>", "<blockquote>"] {
            let html = format!("<p>Début</p>{}fin", tag.repeat(100_000));
            assert!(html_to_text(&html).starts_with("Début"));
            assert!(remote_html_to_markdown(&html).starts_with("Début"));
        }
        let bold: String = (0..50_000).map(|i| format!("<b id={i}>x")).collect();
        assert!(html_to_text(&bold).starts_with("xxx"));
        let reformed = "<<b>div>".repeat(100_000);
        assert!(html_to_text(&reformed).starts_with("<div><div>"));
        for nesting in ["> ", "1. ", "- > "] {
            let rendered = markdown_to_html(&format!("{}fin", nesting.repeat(6_000)));
            assert!(rendered.contains("fin"), "{nesting}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
        // Ordinary nesting keeps its markup.
        let rendered = markdown_to_html("> cité\n>\n> - un\n>   - deux");
        assert!(rendered.contains("<blockquote>"), "{rendered}");
        assert_eq!(rendered.matches("<ul>").count(), 2, "{rendered}");
    }
}
