//! What the renderers of `crate::render` promise, checked on their output. The output is
//! html5ever's serialization (through ammonia), so it is read here as such: text never holds a
//! raw `<`, attribute values are always double-quoted with `"` written `&quot;`.

/// Elements that must never reach a page, whatever the input.
const FORBIDDEN_TAGS: &[&str] = &[
    "script",
    "style",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "form",
    "input",
    "button",
    "textarea",
    "select",
    "option",
    "link",
    "meta",
    "base",
    "svg",
    "math",
    "template",
    "noscript",
    "xmp",
    "plaintext",
    "noembed",
    "noframes",
    "title",
    "head",
    "body",
    "html",
];

/// Attributes that hold a URL a browser would follow or load.
const URL_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "cite",
    "action",
    "formaction",
    "poster",
    "background",
    "longdesc",
    "data",
    "xlink:href",
];

/// The elements pulldown-cmark writes for the Markdown options Palabre turns on, and the
/// attributes it gives each (`rel` is ammonia's). Anything else came from raw HTML.
const MARKDOWN_TAGS: &[(&str, &[&str])] = &[
    ("p", &[]),
    ("h1", &[]),
    ("h2", &[]),
    ("h3", &[]),
    ("h4", &[]),
    ("h5", &[]),
    ("h6", &[]),
    ("blockquote", &[]),
    ("pre", &[]),
    ("code", &[]),
    ("em", &[]),
    ("strong", &[]),
    ("del", &[]),
    ("a", &["href", "title", "rel"]),
    ("img", &["src", "alt", "title"]),
    ("ul", &[]),
    ("ol", &["start"]),
    ("li", &[]),
    ("hr", &[]),
    ("br", &[]),
    ("table", &[]),
    ("thead", &[]),
    ("tbody", &[]),
    ("tr", &[]),
    ("th", &[]),
    ("td", &[]),
];

/// What is left of a reply from another server once rendered: paragraphs, line breaks, links.
const REMOTE_REPLY_TAGS: &[(&str, &[&str])] = &[("p", &[]), ("br", &[]), ("a", &["href", "rel"])];

#[derive(Debug)]
struct StartTag {
    name: String,
    /// Names lowercased, values with their character references decoded.
    attributes: Vec<(String, String)>,
}

impl StartTag {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The start tags of serialized HTML, or why it is not what html5ever writes.
fn start_tags(html: &str) -> Result<Vec<StartTag>, String> {
    read(html).map(|(tags, _)| tags)
}

/// The text of serialized HTML, its character references decoded.
pub fn text_of(html: &str) -> Result<String, String> {
    read(html).map(|(_, text)| text)
}

fn read(html: &str) -> Result<(Vec<StartTag>, String), String> {
    let mut tags = Vec::new();
    let mut text = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        text.push_str(&decode(&rest[..at]));
        rest = &rest[at + 1..];
        if let Some(comment) = rest.strip_prefix("!--") {
            let end = comment.find("-->").ok_or("an unterminated comment")?;
            rest = &comment[end + 3..];
            continue;
        }
        if let Some(end_tag) = rest.strip_prefix('/') {
            let end = end_tag.find('>').ok_or("an unterminated end tag")?;
            rest = &end_tag[end + 1..];
            continue;
        }
        let name_end = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
            .ok_or("an unterminated tag")?;
        let name = rest[..name_end].to_ascii_lowercase();
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(format!("a raw '<' in text, before {:?}", prefix(rest)));
        }
        rest = &rest[name_end..];
        let mut attributes = Vec::new();
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
            if let Some(after) = rest.strip_prefix("/>") {
                rest = after;
                break;
            }
            if let Some(after) = rest.strip_prefix('>') {
                rest = after;
                break;
            }
            let end = rest
                .find(|c: char| c == '=' || c == '>' || c == '/' || c.is_ascii_whitespace())
                .ok_or("an unterminated attribute")?;
            if end == 0 {
                return Err(format!("a stray character in a tag: {:?}", prefix(rest)));
            }
            let attribute = rest[..end].to_ascii_lowercase();
            rest = &rest[end..];
            let value = match rest.strip_prefix("=\"") {
                Some(quoted) => {
                    let end = quoted.find('"').ok_or("an unterminated attribute value")?;
                    rest = &quoted[end + 1..];
                    decode(&quoted[..end])
                }
                None => String::new(),
            };
            attributes.push((attribute, value));
        }
        tags.push(StartTag { name, attributes });
    }
    text.push_str(&decode(rest));
    Ok((tags, text))
}

fn prefix(text: &str) -> String {
    text.chars().take(40).collect()
}

/// The character references html5ever writes in attribute values.
fn decode(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The scheme a browser would see in a URL attribute, if any: it ignores leading and trailing
/// controls and spaces and removes tabs and newlines anywhere.
fn scheme(url: &str) -> Option<String> {
    let cleaned: String = url
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let end =
        cleaned.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))?;
    let candidate = &cleaned[..end];
    (cleaned[end..].starts_with(':') && candidate.starts_with(|c: char| c.is_ascii_alphabetic()))
        .then(|| candidate.to_ascii_lowercase())
}

/// No forbidden element, no event handler or style, and only http(s) and mailto URLs.
fn check_safe(tags: &[StartTag]) -> Result<(), String> {
    for tag in tags {
        if FORBIDDEN_TAGS.contains(&tag.name.as_str()) {
            return Err(format!("a <{}> element", tag.name));
        }
        for (name, value) in &tag.attributes {
            if name.starts_with("on") || matches!(name.as_str(), "style" | "srcdoc" | "srcset") {
                return Err(format!("attribute {name}={value:?} on <{}>", tag.name));
            }
            if URL_ATTRIBUTES.contains(&name.as_str())
                && let Some(scheme) = scheme(value)
                && !matches!(scheme.as_str(), "http" | "https" | "mailto")
            {
                return Err(format!("a {scheme}: URL in {name} on <{}>", tag.name));
            }
        }
    }
    Ok(())
}

/// Only these elements, each with only its attributes.
fn check_only(tags: &[StartTag], allowed: &[(&str, &[&str])]) -> Result<(), String> {
    for tag in tags {
        let Some((_, attributes)) = allowed.iter().find(|(name, _)| *name == tag.name) else {
            return Err(format!(
                "a <{}> element that the input wrote as HTML",
                tag.name
            ));
        };
        if let Some((name, _)) = tag
            .attributes
            .iter()
            .find(|(name, _)| !attributes.contains(&name.as_str()))
        {
            return Err(format!("attribute {name} on <{}>", tag.name));
        }
    }
    Ok(())
}

/// Links written by the sanitiser open nothing and pass no referrer.
fn check_link_rel(tags: &[StartTag]) -> Result<(), String> {
    for tag in tags
        .iter()
        .filter(|t| t.name == "a" && t.attribute("href").is_some())
    {
        let rel = tag.attribute("rel").unwrap_or_default();
        for needed in ["nofollow", "ugc", "noopener", "noreferrer"] {
            if !rel.split_ascii_whitespace().any(|r| r == needed) {
                return Err(format!("a link without rel {needed}: {:?}", tag.attributes));
            }
        }
    }
    Ok(())
}

/// `sanitize_html`: safe, with the links' `rel`.
pub fn check_sanitized(html: &str) -> super::Verdict {
    let tags = start_tags(html)?;
    check_safe(&tags)?;
    check_link_rel(&tags)
}

/// `markdown_to_html`: safe, and no element or attribute from raw HTML in the Markdown.
pub fn check_markdown_html(html: &str) -> super::Verdict {
    let tags = start_tags(html)?;
    check_safe(&tags)?;
    check_only(&tags, MARKDOWN_TAGS)?;
    check_link_rel(&tags)
}

/// A reply from another server, as shown: `remote_html_to_markdown` escapes the text, so that
/// only its paragraphs, line breaks and links (absolute http(s) URLs) become markup.
pub fn check_remote_reply(html: &str) -> super::Verdict {
    let tags = start_tags(html)?;
    check_safe(&tags)?;
    check_only(&tags, REMOTE_REPLY_TAGS)?;
    for tag in &tags {
        if let Some(href) = tag.attribute("href") {
            match url::Url::parse(href) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => return Err(format!("a link to {href:?}, not an absolute http(s) URL")),
            }
        }
    }
    check_link_rel(&tags)
}

/// Text written as HTML text.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Text as an HTML parser reads it back: a leading byte order mark is dropped, line ends
/// become LF, NUL characters are dropped.
pub fn as_parsed(text: &str) -> String {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\0', "")
}
