//! The closed sets of values the product speaks of. Each one is stored as its lowercase name.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Result<Self, AppError> {
                match raw {
                    $($text => Ok($name::$variant),)+
                    other => Err(AppError::BadInput(format!(
                        concat!($what, " must be one of {}, not '{}'"),
                        [$($text),+].join(", "),
                        other
                    ))),
                }
            }
        }
    };
}

string_enum!(
    /// Which side an argument takes on its proposal.
    Stance, "stance" { For = "for", Against = "against" }
);

string_enum!(
    /// A person's opinion on a proposal; one per person, changeable while the consultation is open.
    VoteValue, "vote value" { Agree = "agree", Mixed = "mixed", Disagree = "disagree" }
);

string_enum!(
    /// What the organiser has made of a proposal.
    ProposalState, "state" {
        Submitted = "submitted",
        UnderStudy = "under_study",
        Accepted = "accepted",
        Rejected = "rejected",
        Answered = "answered",
    }
);

string_enum!(
    /// What an account may do on the node beyond taking part.
    Role, "role" { Member = "member", Moderator = "moderator", Admin = "admin" }
);

impl Stance {
    /// The hashtags that give a reply from the fediverse its side, French and English
    /// (FEDERATION.md lists them). Matching ignores case and the leading `#`.
    pub const HASHTAGS: &'static [(&'static str, Stance)] = &[
        ("pour", Stance::For),
        ("for", Stance::For),
        ("contre", Stance::Against),
        ("against", Stance::Against),
    ];

    /// The side named by a set of hashtags: none, or both sides at once, is no side (the
    /// reply is then a comment).
    pub fn from_hashtags<'a>(tags: impl IntoIterator<Item = &'a str>) -> Option<Stance> {
        let mut found = None;
        for tag in tags {
            let name = tag.trim().trim_start_matches('#').to_lowercase();
            let Some((_, stance)) = Self::HASHTAGS.iter().find(|(t, _)| *t == name) else {
                continue;
            };
            match found {
                Some(previous) if previous != *stance => return None,
                _ => found = Some(*stance),
            }
        }
        found
    }
}

impl VoteValue {
    /// The options of a proposal's poll as Mastodon users see them, in the node's language.
    pub fn poll_option(self, french: bool) -> &'static str {
        match (self, french) {
            (VoteValue::Agree, true) => "D'accord",
            (VoteValue::Mixed, true) => "Mitigé",
            (VoteValue::Disagree, true) => "Pas d'accord",
            (VoteValue::Agree, false) => "Agree",
            (VoteValue::Mixed, false) => "Mixed",
            (VoteValue::Disagree, false) => "Disagree",
        }
    }

    /// The vote a poll answer names, in either language (a node may have changed language
    /// since the poll was sent).
    pub fn from_poll_option(name: &str) -> Option<VoteValue> {
        let name = name.trim().replace('\u{2019}', "'");
        Self::ALL.iter().copied().find(|v| {
            name.eq_ignore_ascii_case(v.poll_option(true))
                || name.eq_ignore_ascii_case(v.poll_option(false))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_reject_unknown() {
        for v in VoteValue::ALL {
            assert_eq!(VoteValue::parse(v.as_str()).ok(), Some(*v));
        }
        let err = Stance::parse("maybe").unwrap_err().to_string();
        assert!(err.contains("for, against"), "{err}");
    }

    #[test]
    fn hashtags_give_a_side_unless_they_contradict() {
        assert_eq!(Stance::from_hashtags(["#Pour"]), Some(Stance::For));
        assert_eq!(
            Stance::from_hashtags(["mobilite", "#against"]),
            Some(Stance::Against)
        );
        assert_eq!(Stance::from_hashtags(["#pour", "#contre"]), None);
        assert_eq!(Stance::from_hashtags(["#pourquoi"]), None);
        assert_eq!(
            VoteValue::from_poll_option("pas d’accord"),
            Some(VoteValue::Disagree)
        );
        assert_eq!(VoteValue::from_poll_option("Agree"), Some(VoteValue::Agree));
        assert_eq!(VoteValue::from_poll_option("Peut-être"), None);
    }
}
