//! Palabre's rules, without I/O. Every way in (web form, JSON API, CLI and, later, the
//! ActivityPub inbox) goes through `services::`, which asks these functions; nothing else
//! decides whether a consultation is open or who may change what.
mod names;
mod period;
mod values;

pub use names::{Handle, validate_password};
pub use period::{ConsultationState, ensure_open, ensure_valid_period};
pub use values::{ProposalState, Role, Stance, VoteValue};

use crate::error::AppError;

/// Who is acting, as far as the rules care.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub account_id: i32,
    pub role: Role,
}

impl Actor {
    pub fn is_moderator(&self) -> bool {
        matches!(self.role, Role::Moderator | Role::Admin)
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Authors change their own contributions; nobody else does (moderators hide instead, so
    /// that what a person wrote is never rewritten in their name).
    pub fn ensure_author(&self, author_id: i32, what: &str) -> Result<(), AppError> {
        if self.account_id == author_id {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "only the author of this {what} may change or withdraw it"
            )))
        }
    }

    pub fn ensure_moderator(&self) -> Result<(), AppError> {
        if self.is_moderator() {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "only moderators and admins may do this".into(),
            ))
        }
    }

    /// Organisers are the node's admins: they create consultations, move their dates and
    /// answer proposals.
    pub fn ensure_organiser(&self) -> Result<(), AppError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "only the organisers (admins) may do this".into(),
            ))
        }
    }
}
