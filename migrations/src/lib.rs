//! Palabre's database schema, as sea-orm migrations: one file per migration, applied in order
//! by `palabre migrate` and on every `palabre serve`.
pub use sea_orm_migration::prelude::*;

mod m20261125_000001_initial;
mod m20261125_000002_federation;
mod m20261125_000003_fediverse;
mod m20261125_000004_defences;
mod m20261126_000005_late_refusals;
mod m20261126_000006_backfills;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial::Migration),
            Box::new(m20261125_000002_federation::Migration),
            Box::new(m20261125_000003_fediverse::Migration),
            Box::new(m20261125_000004_defences::Migration),
            Box::new(m20261126_000005_late_refusals::Migration),
            Box::new(m20261126_000006_backfills::Migration),
        ]
    }
}
