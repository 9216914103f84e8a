//! The node's own actor (`Application`), which signs fetches; never stored from elsewhere.
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::kinds::actor::ApplicationType;
use activitypub_federation::protocol::public_key::PublicKey;
use activitypub_federation::traits::{Actor, Object};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{Endpoints, parse_url};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::federation::{FedData, keys};
use crate::store::instance_actor;

#[derive(Clone, Debug)]
pub struct InstanceActor {
    pub ap_id: Url,
    pub public_key: String,
    pub private_key: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    #[serde(rename = "type")]
    pub kind: ApplicationType,
    pub id: ObjectId<InstanceActor>,
    pub preferred_username: String,
    pub name: String,
    pub inbox: Url,
    pub outbox: Url,
    pub endpoints: Endpoints,
    pub public_key: PublicKey,
    pub url: Url,
}

impl InstanceActor {
    pub fn new(state: &AppState, row: instance_actor::Model) -> AppResult<Self> {
        Ok(Self {
            ap_id: parse_url(&format!("{}/actor", state.origin))?,
            public_key: row.public_key,
            private_key: row.private_key,
            name: state.settings.instance.name.clone(),
        })
    }

    pub fn to_json(&self, state: &AppState) -> AppResult<Application> {
        let id = &self.ap_id;
        Ok(Application {
            kind: ApplicationType::Application,
            id: id.clone().into(),
            preferred_username: id.host_str().unwrap_or_default().to_owned(),
            name: self.name.clone(),
            inbox: parse_url(&format!("{id}/inbox"))?,
            outbox: parse_url(&format!("{id}/outbox"))?,
            endpoints: Endpoints {
                shared_inbox: Some(parse_url(&format!("{}/inbox", state.origin))?),
            },
            public_key: PublicKey {
                id: format!("{id}#main-key"),
                owner: id.clone(),
                public_key_pem: self.public_key.clone(),
            },
            url: parse_url(&state.origin)?,
        })
    }
}

#[async_trait::async_trait]
impl Object for InstanceActor {
    type DataType = AppState;
    type Kind = Application;
    type Error = AppError;

    fn id(&self) -> &Url {
        &self.ap_id
    }

    async fn read_from_id(id: Url, data: &FedData) -> AppResult<Option<Self>> {
        let actor = keys::instance_actor(data).await?;
        Ok((actor.ap_id == id).then_some(actor))
    }

    async fn into_json(self, data: &FedData) -> AppResult<Application> {
        self.to_json(data)
    }

    async fn verify(_json: &Application, _expected: &Url, _data: &FedData) -> AppResult<()> {
        Err(AppError::NotImplemented(
            "remote instance actors are not stored".into(),
        ))
    }

    async fn from_json(_json: Application, _data: &FedData) -> AppResult<Self> {
        Err(AppError::NotImplemented(
            "remote instance actors are not stored".into(),
        ))
    }
}

impl Actor for InstanceActor {
    fn public_key_pem(&self) -> &str {
        &self.public_key
    }

    fn private_key_pem(&self) -> Option<String> {
        Some(self.private_key.clone())
    }

    fn inbox(&self) -> Url {
        Url::parse(&format!("{}/inbox", self.ap_id)).unwrap_or_else(|_| self.ap_id.clone())
    }
}
