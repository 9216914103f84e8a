//! Following, as received: a `Follow` of a consultation or an account of this node (accepted
//! at once), the `Accept` of a follow sent from here, and `Undo(Follow)`.
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::{AcceptType, FollowType, UndoType};
use activitypub_federation::protocol::verification::verify_urls_match;
use activitypub_federation::traits::{Activity, Actor, Object};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use url::Url;

use super::actors::{DbGroup, DbPerson};
use super::{FedData, delivery, person_follows};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::store::{follow, received_activity};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Follow {
    #[serde(rename = "type")]
    pub kind: FollowType,
    pub id: Url,
    pub actor: ObjectId<DbPerson>,
    pub object: ObjectId<DbGroup>,
}

#[async_trait::async_trait]
impl Activity for Follow {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    async fn verify(&self, data: &FedData) -> AppResult<()> {
        if !self.object.is_local(data) {
            return Err(AppError::BadInput(
                "only consultations and accounts of this node can be followed here".into(),
            ));
        }
        Ok(())
    }

    async fn receive(self, data: &FedData) -> AppResult<()> {
        if let Some(account) = person_follows::local_account(data, self.object.inner()).await? {
            let follower = self.actor.dereference(data).await?;
            let follow = serde_json::to_value(&self).map_err(anyhow::Error::from)?;
            return person_follows::accept(data, &account, &follower, &self.id, follow).await;
        }
        let group = self.object.dereference_local(data).await?;
        let follower = self.actor.dereference(data).await?;
        let existing = follow::Entity::find()
            .filter(follow::Column::FollowerId.eq(follower.model.id))
            .filter(follow::Column::ConsultationId.eq(group.model.id))
            .one(&data.db)
            .await?;
        if existing.is_none() {
            follow::ActiveModel {
                follower_id: Set(follower.model.id),
                consultation_id: Set(group.model.id),
                activity_id: Set(self.id.to_string()),
                state: Set("accepted".into()),
                created_at: Set(Utc::now()),
                ..Default::default()
            }
            .insert(&data.db)
            .await?;
        }
        let accept = Accept {
            kind: AcceptType::Accept,
            id: super::new_activity_id(data, "accept")?,
            actor: group.ap_id.clone().into(),
            object: self,
        };
        let inbox = follower.shared_inbox_or_inbox();
        delivery::enqueue(
            &data.db,
            &accept.id,
            delivery::Signer::Consultation(group.model.id),
            &serde_json::to_value(&accept).map_err(anyhow::Error::from)?,
            [inbox],
        )
        .await
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Accept {
    #[serde(rename = "type")]
    pub kind: AcceptType,
    pub id: Url,
    pub actor: ObjectId<DbGroup>,
    pub object: Follow,
}

#[async_trait::async_trait]
impl Activity for Accept {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    async fn verify(&self, data: &FedData) -> AppResult<()> {
        // Only the followed consultation accepts, and only a follow one of ours sent.
        verify_urls_match(self.actor.inner(), self.object.object.inner())?;
        if !self.object.actor.is_local(data) {
            return Err(AppError::BadInput(
                "this Accept answers a follow from another node".into(),
            ));
        }
        Ok(())
    }

    async fn receive(self, data: &FedData) -> AppResult<()> {
        // The follow must be one of ours, of exactly the consultation that accepts it.
        let Some(group) = DbGroup::read_from_id(self.actor.inner().clone(), data).await? else {
            return Ok(());
        };
        let txn = crate::store::begin_write(&data.db).await?;
        let accepted = follow::Entity::update_many()
            .col_expr(
                follow::Column::State,
                sea_orm::sea_query::Expr::value("accepted"),
            )
            .filter(follow::Column::ActivityId.eq(self.object.id.as_str()))
            .filter(follow::Column::ConsultationId.eq(group.model.id))
            .filter(follow::Column::State.eq("pending"))
            .exec(&txn)
            .await?;
        // The debate so far, not only what comes next; only for a follow of ours that this
        // Accept answers. Owed in the same transaction, so that no crash can leave an accepted
        // follow without its backfill.
        let accepted = accepted.rows_affected > 0;
        if accepted {
            super::follows::owe_backfill(&txn, group.model.id).await?;
        }
        txn.commit().await?;
        if accepted {
            super::follows::start_backfill(data, group.model.id);
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoFollow {
    #[serde(rename = "type")]
    pub kind: UndoType,
    pub id: Url,
    pub actor: ObjectId<DbPerson>,
    pub object: Follow,
}

#[async_trait::async_trait]
impl Activity for UndoFollow {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    async fn verify(&self, _data: &FedData) -> AppResult<()> {
        // Nobody undoes somebody else's follow.
        verify_urls_match(self.actor.inner(), self.object.actor.inner())?;
        Ok(())
    }

    async fn receive(self, data: &FedData) -> AppResult<()> {
        if let Some(account) =
            person_follows::local_account(data, self.object.object.inner()).await?
        {
            if let Some(follower) = DbPerson::read_from_id(self.actor.inner().clone(), data).await?
            {
                person_follows::undo(data, &account, &follower).await?;
            }
            return Ok(());
        }
        let Some(group) = self.object.object.dereference_local(data).await.ok() else {
            return Ok(());
        };
        let Some(follower) = DbPerson::read_from_id(self.actor.inner().clone(), data).await? else {
            return Ok(());
        };
        follow::Entity::delete_many()
            .filter(follow::Column::FollowerId.eq(follower.model.id))
            .filter(follow::Column::ConsultationId.eq(group.model.id))
            .exec(&data.db)
            .await?;
        // Misskey follows again with the same id: a new follow, not a duplicate of the old.
        received_activity::Entity::delete_by_id(self.object.id.to_string())
            .exec(&data.db)
            .await?;
        Ok(())
    }
}
