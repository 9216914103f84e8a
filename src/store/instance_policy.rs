use sea_orm::entity::prelude::*;

/// What this node does with another server: `block` (drop its activities, hide its content) or
/// `allow` (a partner: in allow-list mode, the only servers that federate).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "instance_policies")]
pub struct Model {
    /// The server's host, with its port when it has one (`host_of`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub domain: String,
    pub policy: String,
    pub reason: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
