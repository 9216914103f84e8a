//! Accounts, passwords, sessions and API tokens, and verification badges.
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use chrono::{Duration, Utc};
use rand_core::{OsRng, RngCore};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use crate::domain::{Actor, Handle, Role, validate_password};
use crate::error::{AppError, AppResult};
use crate::store::{account, handle, session};

/// A web session (cookie) or an API bearer token; both are random secrets stored only as
/// hashes, so a leaked database does not leak live credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Web,
    Api,
}

impl SessionKind {
    fn as_str(self) -> &'static str {
        match self {
            SessionKind::Web => "web",
            SessionKind::Api => "api",
        }
    }
}

pub struct NewAccount<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub display_name: Option<&'a str>,
    pub role: Role,
    pub verified_label: Option<&'a str>,
}

pub fn actor_of(account: &account::Model) -> Actor {
    Actor {
        account_id: account.id,
        role: Role::parse(&account.role).unwrap_or(Role::Member),
    }
}

/// Claims `name` in the node's one namespace of handles; fails with 409 when an account or a
/// consultation already has it.
pub(crate) async fn claim_handle(
    txn: &impl sea_orm::ConnectionTrait,
    name: &Handle,
    kind: &str,
) -> AppResult<()> {
    if handle::Entity::find_by_id(name.as_str().to_owned())
        .one(txn)
        .await?
        .is_some()
    {
        return Err(AppError::Conflict(format!(
            "the name '{}' is already taken on this node",
            name.as_str()
        )));
    }
    handle::ActiveModel {
        name: Set(name.as_str().to_owned()),
        kind: Set(kind.to_owned()),
    }
    .insert(txn)
    .await
    .map_err(|_| {
        AppError::Conflict(format!(
            "the name '{}' is already taken on this node",
            name.as_str()
        ))
    })?;
    Ok(())
}

pub fn hash_password(password: &str) -> AppResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("password hashing failed: {e}")))
}

pub async fn create_account(
    db: &DatabaseConnection,
    new: NewAccount<'_>,
) -> AppResult<account::Model> {
    let username = Handle::parse("username", new.username)?;
    validate_password(new.password)?;
    let display_name = match new.display_name.map(str::trim) {
        Some(name) if !name.is_empty() => super::required_text("display name", name, 100)?,
        _ => username.as_str().to_owned(),
    };
    let verified_label = match new.verified_label {
        Some(label) => Some(super::required_text("verification label", label, 100)?),
        None => None,
    };
    let password_hash = hash_password(new.password)?;
    let txn = crate::store::begin_write(db).await?;
    claim_handle(&txn, &username, "account").await?;
    let account = account::ActiveModel {
        username: Set(username.as_str().to_owned()),
        display_name: Set(display_name),
        password_hash: Set(Some(password_hash)),
        role: Set(new.role.as_str().to_owned()),
        verified_label: Set(verified_label),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(account)
}

/// Checks a username and password. The error never says which of the two was wrong, and an
/// unknown username costs the same hashing time as a known one.
pub async fn authenticate(
    db: &DatabaseConnection,
    username: &str,
    password: &str,
) -> AppResult<account::Model> {
    let wrong = || AppError::Unauthenticated("wrong username or password".into());
    let found = account::Entity::find()
        .filter(account::Column::Username.eq(username.trim()))
        .one(db)
        .await?;
    let stored = found.as_ref().and_then(|a| a.password_hash.clone());
    let hash_text = match &stored {
        Some(hash) => hash.clone(),
        None => hash_password("not a real password")?,
    };
    let parsed = PasswordHash::new(&hash_text)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored password hash unreadable: {e}")))?;
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    match found {
        Some(account) if matches && stored.is_some() => Ok(account),
        _ => Err(wrong()),
    }
}

fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Opens a session of the given kind and returns its secret (shown once, never stored).
pub async fn open_session(
    db: &DatabaseConnection,
    account_id: i32,
    kind: SessionKind,
    days: i64,
) -> AppResult<String> {
    let token = random_token();
    let now = Utc::now();
    session::ActiveModel {
        token_hash: Set(token_hash(&token)),
        account_id: Set(account_id),
        kind: Set(kind.as_str().to_owned()),
        created_at: Set(now),
        expires_at: Set(now + Duration::days(days)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// The account behind a live session secret, if any.
pub async fn account_for_session(
    db: &DatabaseConnection,
    token: &str,
    kind: SessionKind,
) -> AppResult<Option<account::Model>> {
    let Some(session) = session::Entity::find()
        .filter(session::Column::TokenHash.eq(token_hash(token)))
        .filter(session::Column::Kind.eq(kind.as_str()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if session.expires_at <= Utc::now() {
        return Ok(None);
    }
    Ok(account::Entity::find_by_id(session.account_id)
        .one(db)
        .await?)
}

pub async fn close_session(db: &DatabaseConnection, token: &str) -> AppResult<()> {
    session::Entity::delete_many()
        .filter(session::Column::TokenHash.eq(token_hash(token)))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn find_by_username(
    db: &DatabaseConnection,
    username: &str,
) -> AppResult<account::Model> {
    account::Entity::find()
        .filter(account::Column::Username.eq(username))
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no account named '{username}'")))
}

/// Gives an account the verified badge with `label`, or takes it away with `None`.
pub async fn set_verified(
    db: &DatabaseConnection,
    actor: Option<&Actor>,
    username: &str,
    label: Option<&str>,
) -> AppResult<account::Model> {
    // `None` is the CLI, run by whoever runs the node.
    if let Some(actor) = actor {
        actor.ensure_organiser()?;
    }
    let label = match label {
        Some(l) => Some(super::required_text("verification label", l, 100)?),
        None => None,
    };
    let account = find_by_username(db, username).await?;
    let mut active: account::ActiveModel = account.into();
    active.verified_label = Set(label);
    Ok(active.update(db).await?)
}
