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
}
