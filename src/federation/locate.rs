//! Which contribution an ActivityPub id names, and where it belongs. One lookup for every
//! activity that refers to a stored proposal (or its poll), argument, source or comment (updates, deletes, verdicts,
//! reports), and one loader of what an object's JSON needs.
use sea_orm::{ConnectionTrait, EntityTrait};
use url::Url;

use super::FedData;
use super::comments::DbComment;
use super::objects::{DbArgument, DbProposal};
use super::publish::Changed;
use super::sources::DbSource;
use crate::error::{AppError, AppResult};
use crate::store::{account, consultation, proposal};
use activitypub_federation::traits::Object;

/// A stored contribution, its proposal, author and consultation.
pub struct Located {
    pub changed: Changed,
    pub proposal_id: i32,
    pub author_id: i32,
    pub consultation: consultation::Model,
}

pub async fn locate(data: &FedData, id: &Url) -> AppResult<Option<Located>> {
    let (changed, proposal_id, author_id) =
        if let Some(p) = DbProposal::read_from_id(id.clone(), data).await? {
            (Changed::Proposal(p.model.id), p.model.id, p.model.author_id)
        } else if let Some(a) = DbArgument::read_from_id(id.clone(), data).await? {
            let m = a.model;
            (Changed::Argument(m.id), m.proposal_id, m.author_id)
        } else if let Some(s) = DbSource::read_from_id(id.clone(), data).await? {
            let m = s.model;
            (Changed::Source(m.id), m.proposal_id, m.author_id)
        } else if let Some(c) = DbComment::read_from_id(id.clone(), data).await? {
            let m = c.model;
            (Changed::Comment(m.id), m.proposal_id, m.author_id)
        } else {
            return Ok(None);
        };
    let (_, _, consultation) = parts(&data.db, author_id, proposal_id).await?;
    Ok(Some(Located {
        changed,
        proposal_id,
        author_id,
        consultation,
    }))
}

/// The author, proposal and consultation of a contribution: what its JSON is built from.
pub async fn parts(
    db: &impl ConnectionTrait,
    author_id: i32,
    proposal_id: i32,
) -> AppResult<(account::Model, proposal::Model, consultation::Model)> {
    let author = account::Entity::find_by_id(author_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("author".into()))?;
    let proposal = proposal::Entity::find_by_id(proposal_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("proposal".into()))?;
    let consultation = consultation::Entity::find_by_id(proposal.consultation_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("consultation".into()))?;
    Ok((author, proposal, consultation))
}
