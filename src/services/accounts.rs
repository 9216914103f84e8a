//! Accounts, passwords, sessions and API tokens, and verification badges.
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use chrono::{Duration, Utc};
use rand_core::{OsRng, RngCore};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, QueryFilter, Set,
};
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
    let row = checked_account(&new)?;
    let txn = crate::store::begin_write(db).await?;
    let account = insert_account(&txn, row).await?;
    txn.commit().await?;
    Ok(account)
}

/// A new account signed in at once, both or neither: an account left without its session
/// would turn the person's retry into "username taken".
pub async fn sign_up(
    db: &DatabaseConnection,
    new: NewAccount<'_>,
    kind: SessionKind,
    days: i64,
) -> AppResult<(account::Model, String)> {
    let row = checked_account(&new)?;
    let txn = crate::store::begin_write(db).await?;
    let account = insert_account(&txn, row).await?;
    let token = open_session(&txn, account.id, kind, days).await?;
    txn.commit().await?;
    Ok((account, token))
}

/// Checked and hashed before any transaction: hashing is slow on purpose, and SQLite would
/// hold its write lock all along.
fn checked_account(new: &NewAccount<'_>) -> AppResult<(Handle, account::ActiveModel)> {
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
    let row = account::ActiveModel {
        username: Set(username.as_str().to_owned()),
        display_name: Set(display_name),
        password_hash: Set(Some(hash_password(new.password)?)),
        role: Set(new.role.as_str().to_owned()),
        verified_label: Set(verified_label),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    Ok((username, row))
}

async fn insert_account(
    txn: &DatabaseTransaction,
    (username, row): (Handle, account::ActiveModel),
) -> AppResult<account::Model> {
    claim_handle(txn, &username, "account").await?;
    Ok(row.insert(txn).await?)
}

/// What every refused password login says, whatever the reason: unknown username, wrong
/// password or an account locked after too many failures. An attacker learns nothing from it.
pub const LOGIN_REFUSED: &str = "wrong username or password, or too many attempts: try again later";

/// What a suspended account is told once it gave its right password, and whenever it uses a
/// session or token opened before the suspension.
pub const SUSPENDED: &str =
    "this account is suspended: it can neither sign in nor use its sessions and tokens";

/// How many failed password logins in a row lock an account, and for how long
/// (`[security] login_max_failures`, `login_lockout_seconds`).
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    /// 0 turns the lockout off.
    pub max_failures: u32,
    pub lockout: Duration,
}

impl LoginPolicy {
    pub fn from_settings(security: &crate::config::SecuritySettings) -> Self {
        Self {
            max_failures: security.login_max_failures,
            lockout: Duration::seconds(
                i64::try_from(security.login_lockout_seconds).unwrap_or(i64::MAX / 1000),
            ),
        }
    }
}

/// A hash with the same algorithm and parameters as real ones, checked for unknown usernames
/// so that they cost exactly one verification, like known ones. Made once per process.
fn dummy_hash() -> AppResult<&'static str> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = hash_password(&random_token())?;
    Ok(DUMMY.get_or_init(|| hash))
}

/// Argon2 takes tens of milliseconds of CPU: off the async workers, so that a flood of login
/// attempts does not stall every other request.
async fn verify_password(hash: String, password: String) -> AppResult<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| {
            AppError::Internal(anyhow::anyhow!("stored password hash unreadable: {e}"))
        })?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("password check interrupted: {e}")))?
}

/// Checks a username and password, with a lockout after `policy.max_failures` failures in a
/// row. Unknown usernames, wrong passwords and locked accounts all get the same 401 with
/// [`LOGIN_REFUSED`], after the same work: one counting `UPDATE` (which matches no row for an
/// unknown name), one `SELECT` and one Argon2 verification (against a dummy hash when the
/// account is unknown, locked or has no password). A suspended account that gives the right
/// password gets 403 with [`SUSPENDED`]: only someone who knows the password learns it.
pub async fn authenticate(
    db: &DatabaseConnection,
    policy: &LoginPolicy,
    username: &str,
    password: &str,
) -> AppResult<account::Model> {
    let username = username.trim();
    let now = Utc::now();
    // Every attempt counts as a failure until it succeeds, and is counted before the password
    // is checked, in one statement that only matches an unlocked account: concurrent guesses
    // cannot slip past the limit, and the attempt that reaches it locks the account at once
    // (a right password then unlocks it again below). 0 disables the lockout: the counter
    // then locks only at `i32::MAX`, which never happens, and never overflows.
    let max = match policy.max_failures {
        0 => i32::MAX,
        n => i32::try_from(n).unwrap_or(i32::MAX),
    };
    let failures = || Expr::col(account::Column::FailedLogins).add(1);
    let reaches_max = || failures().gte(max);
    let counted = account::Entity::update_many()
        .col_expr(
            account::Column::FailedLogins,
            Expr::case(reaches_max(), 0).finally(failures()).into(),
        )
        .col_expr(
            account::Column::LockedUntil,
            Expr::case(reaches_max(), now + policy.lockout)
                .finally(Expr::col(account::Column::LockedUntil))
                .into(),
        )
        .filter(account::Column::Username.eq(username))
        .filter(
            Condition::any()
                .add(account::Column::LockedUntil.is_null())
                .add(account::Column::LockedUntil.lte(now)),
        )
        .exec(db)
        .await?
        .rows_affected
        > 0;
    let found = account::Entity::find()
        .filter(account::Column::Username.eq(username))
        .one(db)
        .await?;
    // `counted` is false for an unknown name and for a locked account.
    let real_hash = found
        .as_ref()
        .and_then(|a| a.password_hash.clone())
        .filter(|_| counted);
    let checked_hash = match &real_hash {
        Some(hash) => hash.clone(),
        None => dummy_hash()?.to_owned(),
    };
    let matches = verify_password(checked_hash, password.to_owned()).await?;
    match found {
        Some(account) if matches && real_hash.is_some() => {
            let mut active: account::ActiveModel = account.into();
            active.failed_logins = Set(0);
            active.locked_until = Set(None);
            let account = active.update(db).await?;
            ensure_not_suspended(&account)?;
            Ok(account)
        }
        _ => Err(AppError::Unauthenticated(LOGIN_REFUSED.into())),
    }
}

/// Suspended accounts (set by moderators) may not act: refused with 403.
pub fn ensure_not_suspended(account: &account::Model) -> AppResult<()> {
    if account.suspended_at.is_some() {
        Err(AppError::Forbidden(SUSPENDED.into()))
    } else {
        Ok(())
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
    db: &impl ConnectionTrait,
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

/// Closes every web session and revokes every API token of the account ("sign out
/// everywhere"); returns how many there were. They are refused from the next request on.
pub async fn close_all_sessions(db: &DatabaseConnection, account_id: i32) -> AppResult<u64> {
    let deleted = session::Entity::delete_many()
        .filter(session::Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
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
    // The badge and its audit entry together.
    let txn = crate::store::begin_write(db).await?;
    let changed =
        super::moderation::verification_changed(&txn, actor, active.update(&txn).await?).await?;
    txn.commit().await?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unknown usernames must cost what known ones cost: one verification against a hash of
    /// the same algorithm, version and parameters, made once and not per request.
    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        let real = hash_password("a real password").unwrap();
        let dummy = dummy_hash().unwrap();
        let (real, dummy_parsed) = (
            PasswordHash::new(&real).unwrap(),
            PasswordHash::new(dummy).unwrap(),
        );
        assert_eq!(real.algorithm, dummy_parsed.algorithm);
        assert_eq!(real.version, dummy_parsed.version);
        assert_eq!(real.params, dummy_parsed.params);
        assert!(std::ptr::eq(dummy, dummy_hash().unwrap()), "made only once");
    }
}
