use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;

/// Where a consultation stands in its participation period, computed from its dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConsultationState {
    Upcoming,
    Open,
    Closed,
}

impl ConsultationState {
    /// The period is half-open, `[opens_at, closes_at)`: at the closing instant it is closed.
    pub fn at(opens_at: DateTime<Utc>, closes_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if now < opens_at {
            Self::Upcoming
        } else if now < closes_at {
            Self::Open
        } else {
            Self::Closed
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upcoming => "upcoming",
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// The one check behind "participation is closed": every contribution, edit, withdrawal and
/// vote calls it, whichever way it came in.
pub fn ensure_open(
    opens_at: DateTime<Utc>,
    closes_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    match ConsultationState::at(opens_at, closes_at, now) {
        ConsultationState::Open => Ok(()),
        ConsultationState::Upcoming => Err(AppError::NotOpen(format!(
            "participation has not opened yet: it opens on {}",
            opens_at.format("%Y-%m-%d %H:%M UTC")
        ))),
        ConsultationState::Closed => Err(AppError::NotOpen(format!(
            "participation is closed: it closed on {}",
            closes_at.format("%Y-%m-%d %H:%M UTC")
        ))),
    }
}

pub fn ensure_valid_period(
    opens_at: DateTime<Utc>,
    closes_at: DateTime<Utc>,
) -> Result<(), AppError> {
    if closes_at <= opens_at {
        return Err(AppError::BadInput(
            "closes_at must be later than opens_at".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn state_follows_the_dates_and_closing_instant_is_closed() {
        let opens = Utc::now();
        let closes = opens + Duration::days(1);
        assert_eq!(
            ConsultationState::at(opens, closes, opens - Duration::seconds(1)),
            ConsultationState::Upcoming
        );
        assert_eq!(
            ConsultationState::at(opens, closes, opens),
            ConsultationState::Open
        );
        assert_eq!(
            ConsultationState::at(opens, closes, closes),
            ConsultationState::Closed
        );
        assert!(ensure_open(opens, closes, closes).is_err());
        assert!(ensure_open(opens, closes, opens + Duration::hours(1)).is_ok());
    }

    #[test]
    fn period_must_move_forward() {
        let t = Utc::now();
        assert!(ensure_valid_period(t, t).is_err());
        assert!(ensure_valid_period(t, t + Duration::minutes(1)).is_ok());
    }
}
