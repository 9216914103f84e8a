//! Reports travel as `Flag`: a report made on a follower node about content of a consultation
//! hosted elsewhere goes to that consultation's node, whose moderators decide. The `Flag` is
//! sent by the reporting person (as Lemmy does), to the consultation's inbox only.
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::activity::FlagType;
use activitypub_federation::protocol::helpers::deserialize_one_or_many;
use activitypub_federation::traits::{Activity, Actor};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

use super::FedData;
use super::actors::{DbGroup, DbPerson, clean_name};
use super::delivery::{self, Signer};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::store::{account, consultation, report};

pub async fn forward(
    db: &impl ConnectionTrait,
    state: &AppState,
    row: &report::Model,
    group: &consultation::Model,
) -> AppResult<()> {
    let reporter = account::Entity::find_by_id(row.reporter_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("reporter".into()))?;
    let reporter = DbPerson::new(state, reporter)?;
    let group = DbGroup::new(state, group.clone())?;
    let id = super::new_activity_id(state, "flag")?;
    let flag = json!({
        "type": "Flag",
        "id": id,
        "actor": reporter.ap_id,
        "object": [row.object_url],
        "content": row.reason,
        "to": [group.ap_id],
    });
    delivery::enqueue(
        db,
        &id,
        Signer::Account(row.reporter_id),
        &flag,
        [group.inbox()],
    )
    .await
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Flag {
    #[serde(rename = "type")]
    pub kind: FlagType,
    pub id: Url,
    pub actor: ObjectId<DbPerson>,
    #[serde(deserialize_with = "deserialize_one_or_many")]
    pub object: Vec<Url>,
    pub content: Option<String>,
    /// Lemmy puts the reason here.
    pub summary: Option<String>,
}

impl Flag {
    /// What is reported: the listed objects, and the links in the reason (Misskey names only
    /// the account and writes the note's URL in the text).
    pub(crate) fn reported(&self) -> Vec<Url> {
        let mentioned = self
            .content
            .as_deref()
            .unwrap_or_default()
            .split(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"')
            .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
            .filter_map(|w| Url::parse(w).ok());
        let mut reported: Vec<Url> = Vec::new();
        for url in self.object.iter().cloned().chain(mentioned) {
            // One report per object, however often the Flag names it.
            if !reported.contains(&url) {
                reported.push(url);
            }
            if reported.len() == 20 {
                break;
            }
        }
        reported
    }
}

/// The consultation hosted here that a reported object belongs to.
async fn local_consultation_of(data: &FedData, object: &Url) -> AppResult<Option<i32>> {
    Ok(super::locate::locate(data, object)
        .await?
        .map(|found| found.consultation)
        .filter(|c| c.ap_id.is_none())
        .map(|c| c.id))
}

#[async_trait::async_trait]
impl Activity for Flag {
    type DataType = AppState;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        self.actor.inner()
    }

    async fn verify(&self, data: &FedData) -> AppResult<()> {
        for object in &self.reported() {
            if local_consultation_of(data, object).await?.is_some() {
                return Ok(());
            }
        }
        Err(AppError::BadInput(
            "this report is about nothing hosted here".into(),
        ))
    }

    async fn receive(self, data: &FedData) -> AppResult<()> {
        let reporter = self.actor.dereference(data).await?;
        let reason = self
            .content
            .as_deref()
            .or(self.summary.as_deref())
            .map(|c| clean_name(c, 1000))
            .unwrap_or_default();
        let mut hosted = Vec::new();
        for object in self.reported() {
            if let Some(consultation_id) = local_consultation_of(data, &object).await? {
                hosted.push((object, consultation_id));
            }
        }
        // One report per object, all or none: a Flag retried after a failure half-way would
        // otherwise report the first objects twice.
        let txn = crate::store::begin_write(&data.db).await?;
        for (object, consultation_id) in hosted {
            crate::services::reports::record_remote(
                &txn,
                reporter.model.id,
                object.to_string(),
                consultation_id,
                reason.clone(),
            )
            .await?;
        }
        txn.commit().await?;
        Ok(())
    }
}
