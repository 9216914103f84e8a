//! The three kinds of actors: accounts (`Person`), consultations (`Group`) and the node itself
//! (`Application`). Remote actors are stored in the same tables as local ones, with `ap_id` set.
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::actor::GroupType;
use activitypub_federation::protocol::public_key::PublicKey;
use activitypub_federation::traits::{Actor, Object};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TryIntoModel};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{FedData, host_of, keys};
use crate::app::AppState;
use crate::domain::ConsultationState;
use crate::error::{AppError, AppResult};
use crate::render::{html_to_text, markdown_to_html};
use crate::store::{account, consultation};

mod instance;

pub use instance::{Application, InstanceActor};

fn parse_url(raw: &str) -> AppResult<Url> {
    Url::parse(raw).map_err(|e| AppError::Internal(anyhow::anyhow!("bad stored URL {raw}: {e}")))
}

/// A local object's path segment after `prefix`, e.g. `alice` in `https://node/users/alice`.
pub fn local_segment<'u>(state: &AppState, url: &'u Url, prefix: &str) -> Option<&'u str> {
    let origin = url.origin().ascii_serialization();
    if origin != *state.origin {
        return None;
    }
    url.path()
        .strip_prefix(prefix)
        .filter(|rest| !rest.is_empty() && !rest.contains('/'))
}

/// Strips what a remote server may put in a name: markup, control characters, excess length.
pub fn clean_name(raw: &str, max: usize) -> String {
    let text = html_to_text(raw);
    let text: String = text.chars().filter(|c| !c.is_control()).take(max).collect();
    text.trim().to_owned()
}

/// `name@host` for remote handles, keeping only characters that are safe in a URL path.
pub(crate) fn remote_handle(preferred: &str, id: &Url) -> String {
    let name: String = preferred
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(64)
        .collect();
    let name = if name.is_empty() {
        "actor".to_owned()
    } else {
        name
    };
    format!("{name}@{}", host_of(id))
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    pub shared_inbox: Option<Url>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub content: String,
    pub media_type: String,
}

/// A shared inbox counts only on the actor's own server: deliveries for the actor go there.
fn own_shared_inbox(id: &Url, endpoints: Option<Endpoints>) -> Option<String> {
    endpoints
        .and_then(|e| e.shared_inbox)
        .filter(|inbox| super::verify_same_origin(inbox, id).is_ok())
        .map(|u| u.to_string())
}

// ---- Person ----

#[derive(Clone, Debug)]
pub struct DbPerson {
    pub model: account::Model,
    pub ap_id: Url,
}

/// The actor types that speak for one person or service: Mastodon bots are `Service`s, its
/// reports come from an `Application`, some servers use `Organization`. Groups are consultations.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum PersonKind {
    Person,
    Service,
    Application,
    Organization,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    #[serde(rename = "type")]
    pub kind: PersonKind,
    pub id: ObjectId<DbPerson>,
    pub preferred_username: String,
    pub name: Option<String>,
    pub inbox: Url,
    pub outbox: Option<Url>,
    pub followers: Option<Url>,
    pub endpoints: Option<Endpoints>,
    pub public_key: PublicKey,
    pub url: Option<Url>,
    /// Palabre: the verification label given by this actor's node.
    pub verified: Option<String>,
    pub published: Option<DateTime<Utc>>,
}

impl DbPerson {
    pub fn new(state: &AppState, model: account::Model) -> AppResult<Self> {
        let ap_id = match &model.ap_id {
            Some(id) => parse_url(id)?,
            None => parse_url(&state.account_url(&model.username))?,
        };
        Ok(Self { model, ap_id })
    }

    pub fn is_local(&self) -> bool {
        self.model.ap_id.is_none()
    }
}

#[async_trait::async_trait]
impl Object for DbPerson {
    type DataType = AppState;
    type Kind = Person;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.ap_id
    }

    fn last_refreshed_at(&self) -> Option<DateTime<Utc>> {
        self.model.last_refreshed_at
    }

    async fn read_from_id(id: Url, data: &FedData) -> AppResult<Option<Self>> {
        let found = match local_segment(data, &id, "/users/") {
            Some(username) => {
                account::Entity::find()
                    .filter(account::Column::Username.eq(username))
                    .filter(account::Column::ApId.is_null())
                    .one(&data.db)
                    .await?
            }
            None => {
                account::Entity::find()
                    .filter(account::Column::ApId.eq(id.as_str()))
                    .one(&data.db)
                    .await?
            }
        };
        found.map(|m| DbPerson::new(data, m)).transpose()
    }

    async fn into_json(self, data: &FedData) -> AppResult<Person> {
        let model = keys::ensure_account_keys(data, self.model).await?;
        let id = self.ap_id;
        Ok(Person {
            kind: PersonKind::Person,
            preferred_username: model.username.clone(),
            name: Some(model.display_name.clone()),
            inbox: parse_url(&format!("{id}/inbox"))?,
            outbox: Some(parse_url(&format!("{id}/outbox"))?),
            followers: Some(parse_url(&format!("{id}/followers"))?),
            endpoints: Some(Endpoints {
                shared_inbox: Some(parse_url(&format!("{}/inbox", data.origin))?),
            }),
            public_key: PublicKey {
                id: format!("{id}#main-key"),
                owner: id.clone(),
                public_key_pem: model.public_key.clone().unwrap_or_default(),
            },
            url: Some(id.clone()),
            verified: model.verified_label.clone(),
            published: Some(model.created_at),
            id: id.into(),
        })
    }

    async fn verify(json: &Person, expected_domain: &Url, _data: &FedData) -> AppResult<()> {
        super::verify_same_origin(json.id.inner(), expected_domain)?;
        super::verify_same_origin(json.id.inner(), &json.inbox)?;
        Ok(())
    }

    async fn from_json(json: Person, data: &FedData) -> AppResult<Self> {
        super::store_racing(|| store_person(json.clone(), data)).await
    }
}

/// Stores or refreshes a remote account from its actor document.
async fn store_person(json: Person, data: &FedData) -> AppResult<DbPerson> {
    let id = json.id.inner().clone();
    let host = host_of(&id);
    // A badge counts only when a partner node we trust vouches for it.
    let verified = json
        .verified
        .filter(|_| data.settings.federation.trusted_nodes.contains(&host))
        .map(|label| format!("{} · {host}", clean_name(&label, 100)));
    let display = json
        .name
        .as_deref()
        .map(|n| clean_name(n, 100))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| clean_name(&json.preferred_username, 100));
    let existing = account::Entity::find()
        .filter(account::Column::ApId.eq(id.as_str()))
        .one(&data.db)
        .await?;
    let mut active: account::ActiveModel = match existing {
        Some(model) => model.into(),
        None => account::ActiveModel {
            username: Set(remote_handle(&json.preferred_username, &id)),
            role: Set("member".into()),
            created_at: Set(json.published.unwrap_or_else(Utc::now)),
            ap_id: Set(Some(id.to_string())),
            ..Default::default()
        },
    };
    active.display_name = Set(display);
    active.verified_label = Set(verified);
    active.inbox = Set(Some(json.inbox.to_string()));
    active.shared_inbox = Set(own_shared_inbox(&id, json.endpoints));
    active.public_key = Set(Some(json.public_key.public_key_pem));
    active.last_refreshed_at = Set(Some(Utc::now()));
    let model = active.save(&data.db).await?.try_into_model()?;
    DbPerson::new(data, model)
}

impl Actor for DbPerson {
    fn public_key_pem(&self) -> &str {
        self.model.public_key.as_deref().unwrap_or_default()
    }

    fn private_key_pem(&self) -> Option<String> {
        self.model.private_key.clone()
    }

    fn inbox(&self) -> Url {
        match &self.model.inbox {
            Some(inbox) => Url::parse(inbox).unwrap_or_else(|_| self.ap_id.clone()),
            None => self
                .ap_id
                .join(&format!("{}/inbox", self.ap_id.path()))
                .unwrap_or_else(|_| self.ap_id.clone()),
        }
    }

    fn shared_inbox(&self) -> Option<Url> {
        self.model
            .shared_inbox
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
    }
}

// ---- Group ----

#[derive(Clone, Debug)]
pub struct DbGroup {
    pub model: consultation::Model,
    pub ap_id: Url,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    #[serde(rename = "type")]
    pub kind: GroupType,
    pub id: ObjectId<DbGroup>,
    pub preferred_username: String,
    pub name: Option<String>,
    pub summary: Option<String>,
    pub source: Option<Source>,
    pub inbox: Url,
    pub outbox: Option<Url>,
    pub followers: Option<Url>,
    pub endpoints: Option<Endpoints>,
    pub public_key: PublicKey,
    pub url: Option<Url>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    /// Palabre: the participation period and its state.
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    pub participation: Option<ConsultationState>,
    #[serde(default)]
    pub themes: Vec<String>,
    #[serde(default)]
    pub posting_restricted_to_mods: bool,
}

impl DbGroup {
    pub fn new(state: &AppState, model: consultation::Model) -> AppResult<Self> {
        let ap_id = match &model.ap_id {
            Some(id) => parse_url(id)?,
            None => parse_url(&state.consultation_url(&model.slug))?,
        };
        Ok(Self { model, ap_id })
    }

    pub fn is_local(&self) -> bool {
        self.model.ap_id.is_none()
    }

    pub fn followers_url(&self) -> String {
        format!("{}/followers", self.ap_id)
    }
}

#[async_trait::async_trait]
impl Object for DbGroup {
    type DataType = AppState;
    type Kind = Group;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.ap_id
    }

    fn last_refreshed_at(&self) -> Option<DateTime<Utc>> {
        self.model.last_refreshed_at
    }

    async fn read_from_id(id: Url, data: &FedData) -> AppResult<Option<Self>> {
        let found = match local_segment(data, &id, "/consultations/") {
            Some(slug) => {
                consultation::Entity::find()
                    .filter(consultation::Column::Slug.eq(slug))
                    .filter(consultation::Column::ApId.is_null())
                    .one(&data.db)
                    .await?
            }
            None => {
                consultation::Entity::find()
                    .filter(consultation::Column::ApId.eq(id.as_str()))
                    .one(&data.db)
                    .await?
            }
        };
        found.map(|m| DbGroup::new(data, m)).transpose()
    }

    async fn into_json(self, data: &FedData) -> AppResult<Group> {
        let model = keys::ensure_consultation_keys(data, self.model).await?;
        group_json(data, &model)
    }

    async fn verify(json: &Group, expected_domain: &Url, _data: &FedData) -> AppResult<()> {
        super::verify_same_origin(json.id.inner(), expected_domain)?;
        super::verify_same_origin(json.id.inner(), &json.inbox)?;
        Ok(())
    }

    async fn from_json(json: Group, data: &FedData) -> AppResult<Self> {
        super::store_racing(|| store_group(json.clone(), data)).await
    }
}

/// The closing date of a consultation that never closes (a Lemmy community).
const OPEN_FOR_GOOD: DateTime<Utc> = match DateTime::from_timestamp(253_402_300_799, 0) {
    Some(end_of_9999) => end_of_9999,
    None => DateTime::<Utc>::MAX_UTC,
};

/// Stores or refreshes a remote consultation from its Group document.
async fn store_group(json: Group, data: &FedData) -> AppResult<DbGroup> {
    let id = json.id.inner().clone();
    let title = json
        .name
        .as_deref()
        .map(|n| clean_name(n, 200))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| clean_name(&json.preferred_username, 200));
    let body = match (&json.source, &json.summary) {
        (Some(source), _) if source.media_type == "text/markdown" => source.content.clone(),
        (_, Some(summary)) => html_to_text(summary),
        _ => String::new(),
    };
    let themes: Vec<String> = json
        .themes
        .iter()
        .take(20)
        .map(|t| clean_name(t, 60))
        .collect();
    // A group that says nothing of a period (a Lemmy community) is open for good.
    let opens_at = json
        .opens_at
        .or(json.published)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    // Not chrono's last instant: PostgreSQL's timestamps end in the year 294276.
    let closes_at = json.closes_at.unwrap_or(OPEN_FOR_GOOD);
    let existing = consultation::Entity::find()
        .filter(consultation::Column::ApId.eq(id.as_str()))
        .one(&data.db)
        .await?;
    let now = Utc::now();
    let mut active: consultation::ActiveModel = match existing {
        Some(model) => model.into(),
        None => consultation::ActiveModel {
            slug: Set(free_group_handle(data, &json.preferred_username, &id).await?),
            created_at: Set(json.published.unwrap_or(now)),
            ap_id: Set(Some(id.to_string())),
            ..Default::default()
        },
    };
    active.title = Set(title);
    active.body = Set(body.chars().take(crate::services::BODY_MAX).collect());
    active.themes = Set(serde_json::to_string(&themes).map_err(anyhow::Error::from)?);
    active.opens_at = Set(opens_at);
    active.closes_at = Set(closes_at);
    active.updated_at = Set(json.updated.unwrap_or(now));
    active.inbox = Set(Some(json.inbox.to_string()));
    active.shared_inbox = Set(own_shared_inbox(&id, json.endpoints));
    active.public_key = Set(Some(json.public_key.public_key_pem));
    active.last_refreshed_at = Set(Some(now));
    let model = active.save(&data.db).await?.try_into_model()?;
    DbGroup::new(data, model)
}

/// The handle a new remote Group is known by here. Two Groups of one server can come to the
/// same handle (one moved or renamed, or names that keep no ASCII letter: `actor@host`, or
/// share their first 64): the first keeps it, and a later one is refused with 409 rather than
/// stored over it (a unique index refused it with a 500 before).
async fn free_group_handle(data: &FedData, preferred: &str, id: &Url) -> AppResult<String> {
    let handle = remote_handle(preferred, id);
    match consultation::Entity::find()
        .filter(consultation::Column::Slug.eq(handle.as_str()))
        .one(&data.db)
        .await?
    {
        Some(other) => Err(AppError::Conflict(format!(
            "{handle} is already the handle of another Group here ({}); {id} is not stored",
            other.ap_id.unwrap_or_default()
        ))),
        None => Ok(handle),
    }
}

/// The `Group` of a local consultation whose keys exist; pure, so that an `Update` can be
/// queued inside a transaction.
pub fn group_json(state: &AppState, model: &consultation::Model) -> AppResult<Group> {
    let id = DbGroup::new(state, model.clone())?.ap_id;
    let themes: Vec<String> = serde_json::from_str(&model.themes).unwrap_or_default();
    Ok(Group {
        kind: GroupType::Group,
        preferred_username: model.slug.clone(),
        name: Some(model.title.clone()),
        summary: Some(markdown_to_html(&model.body)),
        source: Some(Source {
            content: model.body.clone(),
            media_type: "text/markdown".into(),
        }),
        inbox: parse_url(&format!("{id}/inbox"))?,
        outbox: Some(parse_url(&format!("{id}/outbox"))?),
        followers: Some(parse_url(&format!("{id}/followers"))?),
        endpoints: Some(Endpoints {
            shared_inbox: Some(parse_url(&format!("{}/inbox", state.origin))?),
        }),
        public_key: PublicKey {
            id: format!("{id}#main-key"),
            owner: id.clone(),
            public_key_pem: model.public_key.clone().unwrap_or_default(),
        },
        url: Some(id.clone()),
        published: Some(model.created_at),
        updated: Some(model.updated_at),
        opens_at: Some(model.opens_at),
        closes_at: Some(model.closes_at),
        participation: Some(ConsultationState::at(
            model.opens_at,
            model.closes_at,
            Utc::now(),
        )),
        themes,
        posting_restricted_to_mods: false,
        id: id.into(),
    })
}

impl Actor for DbGroup {
    fn public_key_pem(&self) -> &str {
        self.model.public_key.as_deref().unwrap_or_default()
    }

    fn private_key_pem(&self) -> Option<String> {
        self.model.private_key.clone()
    }

    fn inbox(&self) -> Url {
        match &self.model.inbox {
            Some(inbox) => Url::parse(inbox).unwrap_or_else(|_| self.ap_id.clone()),
            None => {
                Url::parse(&format!("{}/inbox", self.ap_id)).unwrap_or_else(|_| self.ap_id.clone())
            }
        }
    }

    fn shared_inbox(&self) -> Option<Url> {
        self.model
            .shared_inbox
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
    }
}
