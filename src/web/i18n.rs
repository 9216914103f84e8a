//! Language choice and the formatting that depends on it (dates, plurals, labels of the
//! domain's values). The words themselves live in `messages.rs`.
use axum::http::HeaderMap;
use axum::http::header::ACCEPT_LANGUAGE;
use chrono::{DateTime, Utc};

use super::messages::{EN, FR, Messages};
use crate::domain::{ConsultationState, ProposalState};
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "fr" => Some(Lang::Fr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn messages(self) -> &'static Messages {
        match self {
            Lang::Fr => &FR,
            Lang::En => &EN,
        }
    }

    /// The language the switch in the header offers.
    pub fn other(self) -> Self {
        match self {
            Lang::Fr => Lang::En,
            Lang::En => Lang::Fr,
        }
    }

    /// The node speaks French first; an explicit choice (the `lang` cookie) wins, otherwise the
    /// browser's preferences, and English only when it is ranked strictly above French.
    pub fn negotiate(cookie: Option<&str>, headers: &HeaderMap) -> Self {
        if let Some(lang) = cookie.and_then(Lang::parse) {
            return lang;
        }
        let Some(header) = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else {
            return Lang::Fr;
        };
        let (mut fr, mut en) = (0.0_f32, 0.0_f32);
        for item in header.split(',') {
            let mut pieces = item.split(';');
            let tag = pieces
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let primary = tag.split('-').next().unwrap_or_default();
            let quality = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match primary {
                "fr" => fr = fr.max(quality),
                "en" => en = en.max(quality),
                _ => {}
            }
        }
        if en > fr { Lang::En } else { Lang::Fr }
    }
}

/// "Aucun argument pour" / "1 argument pour" / "3 arguments pour": `{n}` is replaced.
pub struct Plural {
    pub zero: &'static str,
    pub one: &'static str,
    pub many: &'static str,
}

impl Plural {
    pub fn of(&self, n: impl Into<i64>) -> String {
        match n.into() {
            0 => self.zero.to_owned(),
            1 => self.one.replace("{n}", "1"),
            n => self.many.replace("{n}", &n.to_string()),
        }
    }
}

impl Messages {
    /// "le 29/10/2014 - 13:59" / "on 2014-10-29 13:59", in UTC.
    pub fn on_date(&self, at: &DateTime<Utc>) -> String {
        at.format(self.date_time_format).to_string()
    }

    /// A bare date, for "member since".
    pub fn date(&self, at: &DateTime<Utc>) -> String {
        at.format(self.date_format).to_string()
    }

    pub fn period(&self, opens: &DateTime<Utc>, closes: &DateTime<Utc>) -> String {
        self.period_pattern
            .replace("{from}", &opens.format(self.period_format).to_string())
            .replace("{to}", &closes.format(self.period_format).to_string())
    }

    pub fn arguments_for(&self, n: &i32) -> String {
        self.plural_for.of(*n)
    }

    pub fn arguments_against(&self, n: &i32) -> String {
        self.plural_against.of(*n)
    }

    pub fn comments(&self, n: usize) -> String {
        self.plural_comments
            .of(i64::try_from(n).unwrap_or(i64::MAX))
    }

    pub fn shares(&self, n: &u64) -> String {
        self.plural_shares.of(i64::try_from(*n).unwrap_or(i64::MAX))
    }

    pub fn late_refused(&self, n: &i32) -> String {
        self.plural_late_refused.of(*n)
    }

    pub fn proposals(&self, n: &u64) -> String {
        self.plural_proposals
            .of(i64::try_from(*n).unwrap_or(i64::MAX))
    }

    /// "3 arguments pour · 1 contre", the summary under each proposal of a list.
    pub fn arguments_summary(&self, for_: &i32, against: &i32) -> String {
        format!(
            "{} · {against} {}",
            self.plural_for.of(*for_),
            self.against_short
        )
    }

    pub fn contribution_number(&self, number: &i64) -> String {
        self.contribution_pattern
            .replace("{n}", &number.to_string())
    }

    pub fn consultation_state(&self, state: &ConsultationState) -> &'static str {
        match state {
            ConsultationState::Open => self.state_open,
            ConsultationState::Upcoming => self.state_upcoming,
            ConsultationState::Closed => self.state_closed,
        }
    }

    pub fn proposal_state(&self, state: &ProposalState) -> &'static str {
        match state {
            ProposalState::Submitted => self.proposal_submitted,
            ProposalState::UnderStudy => self.proposal_under_study,
            ProposalState::Accepted => self.proposal_accepted,
            ProposalState::Rejected => self.proposal_rejected,
            ProposalState::Answered => self.proposal_answered,
        }
    }

    pub fn hosted_on(&self, origin: &str) -> String {
        self.hosted_on.replace("{origin}", origin)
    }

    pub fn came_from(&self, origin: &str) -> String {
        self.from_origin.replace("{origin}", origin)
    }

    /// A follow's state as stored (`pending`, `accepted`); an unknown one is shown as it is.
    pub fn follow_state_label(&self, state: &str) -> String {
        match state {
            "pending" => self.follow_pending.to_owned(),
            "accepted" => self.follow_accepted.to_owned(),
            other => other.to_owned(),
        }
    }

    /// The heading of an error page or alert box.
    pub fn error_title(&self, code: &str, message: &str) -> &'static str {
        match code {
            "bad_request" => self.error_bad_input,
            "unauthorized" => self.error_unauthenticated,
            "forbidden" => self.error_forbidden,
            "not_found" => self.error_not_found,
            "gone" => self.error_gone,
            // Both states come as one error; the service message says which.
            "consultation_not_open" if message.starts_with("participation has not opened") => {
                self.error_not_open_yet
            }
            "consultation_not_open" => self.error_closed,
            "conflict" => self.error_conflict,
            "bad_gateway" => self.error_remote,
            "not_implemented" => self.error_not_implemented,
            "csrf" => self.error_csrf,
            "too_many_requests" => self.error_too_many,
            _ => self.error_internal,
        }
    }

    /// The service's message (written in English) in this language when it is a common one;
    /// otherwise the original, which still says precisely what went wrong.
    pub fn error_detail(&self, message: &str) -> String {
        self.known_errors
            .iter()
            .find(|(english, _)| *english == message)
            .map(|(_, local)| (*local).to_owned())
            .unwrap_or_else(|| message.to_owned())
    }

    /// One line for an alert box: heading and detail.
    pub fn error_line(&self, err: &AppError) -> String {
        let message = err.to_string();
        let title = self.error_title(err.code(), &message);
        match self.error_detail(&message) {
            detail if detail.is_empty() => title.to_owned(),
            detail => format!("{title} {detail}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_LANGUAGE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn french_unless_english_is_preferred() {
        assert_eq!(Lang::negotiate(None, &HeaderMap::new()), Lang::Fr);
        assert_eq!(Lang::negotiate(None, &accept("en-GB,en;q=0.9")), Lang::En);
        assert_eq!(Lang::negotiate(None, &accept("fr-FR,en;q=0.8")), Lang::Fr);
        assert_eq!(
            Lang::negotiate(None, &accept("en;q=0.5,fr;q=0.5")),
            Lang::Fr
        );
        assert_eq!(Lang::negotiate(None, &accept("de,en;q=0.3")), Lang::En);
        assert_eq!(Lang::negotiate(Some("fr"), &accept("en")), Lang::Fr);
        assert_eq!(Lang::negotiate(Some("en"), &HeaderMap::new()), Lang::En);
    }

    #[test]
    fn plurals_and_dates_read_like_the_seed_pages() {
        assert_eq!(FR.arguments_for(&0), "Aucun argument pour");
        assert_eq!(FR.arguments_for(&1), "1 argument pour");
        assert_eq!(FR.arguments_against(&3), "3 arguments contre");
        assert_eq!(EN.arguments_for(&0), "No argument for");
        assert_eq!(EN.arguments_against(&1), "1 argument against");
        assert_eq!(EN.arguments_for(&3), "3 arguments for");
        let at = DateTime::parse_from_rfc3339("2014-10-29T13:59:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            format!("#697, {}", FR.on_date(&at)),
            "#697, le 29/10/2014 - 13:59"
        );
        assert_eq!(EN.on_date(&at), "on 2014-10-29 13:59");
    }

    #[test]
    fn federation_labels_and_errors_are_localised() {
        let unreachable = AppError::Remote("error sending request".into());
        assert_eq!(
            FR.error_title(unreachable.code(), ""),
            "Le nœud distant n'a pas répondu."
        );
        assert_eq!(
            EN.error_line(&unreachable),
            "The other node did not answer. error sending request"
        );
        assert_eq!(FR.hosted_on("ville.example"), "hébergée sur ville.example");
        assert_eq!(
            EN.came_from("ville.example:8443"),
            "from ville.example:8443"
        );
        assert_eq!(FR.follow_state_label("pending"), "en attente");
        assert_eq!(EN.follow_state_label("accepted"), "accepted");
    }
}
