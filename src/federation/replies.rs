//! Reading a reply from another server: its text (HTML, a language map or Markdown), whether
//! it is a poll answer, and the side its stance hashtags give it. Used to tell arguments,
//! comments and poll answers apart before anything is stored.
use serde::Deserialize;

use super::objects::Note;
use crate::domain::Stance;
use crate::render::{html_to_text, remote_html_to_markdown};
use crate::services::BODY_MAX;

pub(crate) fn one_or_many_values<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<serde_json::Value>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Array(values) => values,
        serde_json::Value::Null => Vec::new(),
        one => vec![one],
    })
}

/// The longest reply text read at all (HTML or Markdown): far above any server's post limit,
/// low enough that parsing hostile HTML stays cheap.
pub const REPLY_TEXT_MAX_BYTES: usize = 64 * 1024;

impl Note {
    /// Too long to be read: refused before any HTML is parsed.
    pub fn is_too_long(&self) -> bool {
        let map: usize = self
            .content_map
            .iter()
            .flat_map(|m| m.values())
            .map(String::len)
            .sum();
        let source = self.source.as_ref().map_or(0, |s| s.content.len());
        self.content.len() + map + source > REPLY_TEXT_MAX_BYTES
    }

    /// The HTML of the reply: `content`, else the first language of `contentMap`.
    pub fn html(&self) -> &str {
        if !self.content.trim().is_empty() {
            return &self.content;
        }
        self.content_map
            .as_ref()
            .and_then(|map| map.values().next())
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// A vote in a poll rather than a reply: an option name and no text.
    pub fn is_poll_answer(&self) -> bool {
        self.name.as_deref().is_some_and(|n| !n.trim().is_empty())
            && html_to_text(self.html()).trim().is_empty()
            && self
                .source
                .as_ref()
                .is_none_or(|s| s.content.trim().is_empty())
    }

    /// The side it takes: Palabre's `stance`, else a stance hashtag (FEDERATION.md), from the
    /// `tag` list or, for servers that do not list hashtags (Lemmy), from the text.
    pub fn effective_stance(&self) -> Option<Stance> {
        if self.stance.is_some() {
            return self.stance;
        }
        let listed = self
            .tag
            .iter()
            .filter(|t| t.get("type").and_then(serde_json::Value::as_str) == Some("Hashtag"))
            .filter_map(|t| t.get("name").and_then(serde_json::Value::as_str));
        if let Some(stance) = Stance::from_hashtags(listed) {
            return Some(stance);
        }
        let text = match &self.source {
            Some(source) => source.content.clone(),
            None => html_to_text(self.html()),
        };
        let words = text
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | ';' | '!' | '?' | ')'))
            .filter(|w| w.starts_with('#'))
            .collect::<Vec<_>>();
        Stance::from_hashtags(words)
    }

    /// Markdown of the reply's text: its Markdown `source` when it has one, else its HTML
    /// with links, mentions and hashtags kept.
    pub fn markdown(&self) -> String {
        let text = match &self.source {
            Some(s) if s.media_type == "text/markdown" => s.content.clone(),
            _ => remote_html_to_markdown(self.html()),
        };
        text.chars().take(BODY_MAX).collect()
    }
}
