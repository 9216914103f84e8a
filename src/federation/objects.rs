//! Proposals federate as `Page`s (name, content, Markdown source, audience = the consultation's
//! Group), arguments as `Note`s replying to their proposal with a Palabre `stance`.
//!
//! The parts: `page` is the proposal's `Page` and how one is stored, `note` the argument's
//! `Note`, how one is stored and which proposal a reply belongs to. What both need to know
//! about a contribution's consultation is here.
use activitypub_federation::traits::Object;
use sea_orm::{ConnectionTrait, EntityTrait};
use url::Url;

use super::actors::DbGroup;
use super::{AS_PUBLIC, FedData};
use crate::error::{AppError, AppResult};
use crate::store::consultation;

mod note;
mod page;

pub use note::{DbArgument, Note, ReplyParts, note_json, reply_note, store_note};
pub(crate) use note::{NoteWrite, parent_proposal, prepare_note, save_note};
pub use page::{DbProposal, Page, Tally, Voucher, page_json, store_page};
pub(crate) use page::{PageWrite, prepare_page, save_page};

pub(super) fn url(raw: &str) -> AppResult<Url> {
    Url::parse(raw).map_err(|e| AppError::Internal(anyhow::anyhow!("bad URL {raw}: {e}")))
}

fn public_and(group: &Url) -> Vec<Url> {
    let mut to = vec![group.clone()];
    if let Ok(public) = Url::parse(AS_PUBLIC) {
        to.push(public);
    }
    to
}

/// Where a contribution that is not stored yet may be created. Fetching, announcing and
/// backfilling only fill mirrors; only the inbox's `Create`, after the consultation's rules
/// were applied, adds to a consultation hosted here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewIn {
    MirrorsOnly,
    AnyConsultation,
}

/// The consultation a stored or incoming contribution belongs to. A stored one stays where it
/// is: an incoming copy naming another consultation is refused.
pub(crate) async fn consultation_for(
    data: &FedData,
    stored: Option<i32>,
    named: Option<&Url>,
    new_in: NewIn,
) -> AppResult<DbGroup> {
    if let Some(consultation_id) = stored {
        let model = consultation::Entity::find_by_id(consultation_id)
            .one(&data.db)
            .await?
            .ok_or_else(|| AppError::NotFound("consultation".into()))?;
        let group = DbGroup::new(data, model)?;
        if named.is_some_and(|n| *n != group.ap_id) {
            return Err(AppError::Forbidden(
                "a contribution cannot move to another consultation".into(),
            ));
        }
        return Ok(group);
    }
    let named = named.ok_or_else(|| AppError::BadInput("no consultation named".into()))?;
    let group = DbGroup::read_from_id(named.clone(), data)
        .await?
        .ok_or_else(|| AppError::BadInput("that consultation is not followed here".into()))?;
    if group.is_local() && new_in == NewIn::MirrorsOnly {
        return Err(AppError::Forbidden(
            "contributions to a consultation hosted here arrive through its inbox".into(),
        ));
    }
    Ok(group)
}

/// The number to give a proposal or argument being saved, if it changes. A consultation hosted
/// here numbers what it receives, once; a mirror shows the origin's numbers. Taken inside the
/// transaction that saves the row: a number taken outside it was lost when the save failed, or
/// raced another post.
pub(crate) async fn number_to_set(
    txn: &impl ConnectionTrait,
    is_new: bool,
    sent: Option<i64>,
    hosted_here: bool,
) -> AppResult<Option<i64>> {
    if is_new {
        let number = match sent {
            _ if hosted_here => crate::store::next_number(txn, "contribution").await?,
            Some(number) => number,
            None => 0,
        };
        return Ok(Some(number));
    }
    Ok(sent.filter(|_| !hosted_here))
}
