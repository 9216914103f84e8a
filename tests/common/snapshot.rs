//! A picture of every table a request can change, to check that a refused request changed
//! nothing (and that an accepted one did). Included with `#[path]` by the test files that
//! need it, so that `common/mod.rs` stays as it is.
#![allow(dead_code)]

use palabre::store::{
    account, account_follow, argument, audit_log, comment, consultation, counter, delivery, follow,
    handle, instance_policy, node_setting, proposal, report, session, share, source, vote,
};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;

/// Every row of every table, as JSON, in a stable order.
pub type Snapshot = Vec<(&'static str, Vec<Value>)>;

async fn rows<E: EntityTrait>(db: &DatabaseConnection) -> Vec<Value> {
    let mut rows = E::find().into_json().all(db).await.expect("snapshot query");
    // Row order is not guaranteed (PostgreSQL moves updated rows): sort on the whole row.
    rows.sort_by_key(Value::to_string);
    rows
}

/// Leaves out what background work changes at any time, whatever the requests do.
fn without(keys: &[&str], mut rows: Vec<Value>) -> Vec<Value> {
    for row in &mut rows {
        if let Some(object) = row.as_object_mut() {
            for key in keys {
                object.remove(*key);
            }
        }
    }
    rows
}

/// The delivery worker updates its bookkeeping as it goes; what matters is which activities
/// were queued, not how far their delivery went.
const DELIVERY_PROGRESS: &[&str] = &[
    "attempts",
    "next_attempt_at",
    "locked_until",
    "status",
    "last_error",
];

/// Signing keys are made the first time an actor federates, by the delivery worker.
const KEYS: &[&str] = &["public_key", "private_key"];

pub async fn snapshot(db: &DatabaseConnection) -> Snapshot {
    vec![
        ("accounts", without(KEYS, rows::<account::Entity>(db).await)),
        ("account_follows", rows::<account_follow::Entity>(db).await),
        ("arguments", rows::<argument::Entity>(db).await),
        ("audit_log", rows::<audit_log::Entity>(db).await),
        ("comments", rows::<comment::Entity>(db).await),
        (
            "consultations",
            without(KEYS, rows::<consultation::Entity>(db).await),
        ),
        ("counters", rows::<counter::Entity>(db).await),
        (
            "deliveries",
            without(DELIVERY_PROGRESS, rows::<delivery::Entity>(db).await),
        ),
        ("follows", rows::<follow::Entity>(db).await),
        ("handles", rows::<handle::Entity>(db).await),
        (
            "instance_policies",
            rows::<instance_policy::Entity>(db).await,
        ),
        ("node_settings", rows::<node_setting::Entity>(db).await),
        ("proposals", rows::<proposal::Entity>(db).await),
        ("reports", rows::<report::Entity>(db).await),
        ("sessions", rows::<session::Entity>(db).await),
        ("shares", rows::<share::Entity>(db).await),
        ("sources", rows::<source::Entity>(db).await),
        ("votes", rows::<vote::Entity>(db).await),
    ]
}

/// The names of the tables that differ, for a readable failure.
pub fn changed_tables(before: &Snapshot, after: &Snapshot) -> Vec<&'static str> {
    before
        .iter()
        .zip(after)
        .filter(|((_, a), (_, b))| a != b)
        .map(|((name, _), _)| *name)
        .collect()
}
