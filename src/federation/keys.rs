//! Key pairs for signing, generated the first time an actor federates: RSA generation is slow,
//! and most accounts of a node may never need one.
use activitypub_federation::http_signatures::generate_actor_keypair;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::actors::InstanceActor;
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::store::{account, consultation, instance_actor};

async fn new_keypair() -> AppResult<(String, String)> {
    let pair = tokio::task::spawn_blocking(generate_actor_keypair)
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(|e| AppError::Internal(anyhow::anyhow!("key generation failed: {e}")))?;
    Ok((pair.public_key, pair.private_key))
}

/// The account with its key pair, made now if it has none. Two requests may get here at once
/// (a post's delivery to the origin and to the author's followers): only the first pair is
/// stored and both use it. A second pair overwriting the first made the signatures already sent
/// with it fail at servers that had fetched the first key.
pub async fn ensure_account_keys(
    state: &AppState,
    model: account::Model,
) -> AppResult<account::Model> {
    if model.public_key.is_some() || model.ap_id.is_some() {
        return Ok(model);
    }
    let (public, private) = new_keypair().await?;
    account::Entity::update_many()
        .col_expr(account::Column::PublicKey, Expr::value(public))
        .col_expr(account::Column::PrivateKey, Expr::value(private))
        .filter(account::Column::Id.eq(model.id))
        .filter(account::Column::PublicKey.is_null())
        .exec(&state.db)
        .await?;
    account::Entity::find_by_id(model.id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound("account".into()))
}

/// The consultation with its key pair, made now if it has none; as [`ensure_account_keys`].
pub async fn ensure_consultation_keys(
    state: &AppState,
    model: consultation::Model,
) -> AppResult<consultation::Model> {
    if model.public_key.is_some() || model.ap_id.is_some() {
        return Ok(model);
    }
    let (public, private) = new_keypair().await?;
    consultation::Entity::update_many()
        .col_expr(consultation::Column::PublicKey, Expr::value(public))
        .col_expr(consultation::Column::PrivateKey, Expr::value(private))
        .filter(consultation::Column::Id.eq(model.id))
        .filter(consultation::Column::PublicKey.is_null())
        .exec(&state.db)
        .await?;
    consultation::Entity::find_by_id(model.id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound("consultation".into()))
}

/// The node's own actor, which signs fetches; created on first start.
pub async fn instance_actor(state: &AppState) -> AppResult<InstanceActor> {
    let row = match instance_actor::Entity::find_by_id(1).one(&state.db).await? {
        Some(row) => row,
        None => {
            let (public, private) = new_keypair().await?;
            let inserted = instance_actor::ActiveModel {
                id: Set(1),
                public_key: Set(public),
                private_key: Set(private),
            }
            .insert(&state.db)
            .await;
            match inserted {
                Ok(row) => row,
                // Another process sharing the database created it first.
                Err(_) => instance_actor::Entity::find_by_id(1)
                    .one(&state.db)
                    .await?
                    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no instance actor")))?,
            }
        }
    };
    InstanceActor::new(state, row)
}
