//! The audit chain stops covering the references to people in clear (issue 10): an erased
//! person's entries are pseudonymised, and the chain must still verify afterwards.
//!
//! Entries written from now on (`chain_version` 3) chain a hiding commitment to each of the
//! actor, the subject and the detail, `*_commitment = SHA-256(salt || text)`, with a random
//! salt per field stored beside it (`*_salt`). While the salt is there, `verify` checks the
//! text against the commitment; pseudonymising a field replaces its text and removes its salt
//! in the same update, after which the commitment (still chained) says nothing about what the
//! field held. The salts need no seal: they hide nothing the row does not show in clear
//! already, and they are destroyed exactly when the text they would confirm is replaced.
//!
//! Entries already written keep `chain_version` 1 or 2: their hashes cover the actor, subject
//! and detail text, so they cannot be pseudonymised without re-chaining the trail, which this
//! migration does not do (a rewrite of every later hash is what the chain exists to make
//! detectable). Erasure leaves them as they are and says so (see `hub_tenant::audit`).
//!
//! The update trigger now allows, besides the two changes of the sealed IP of issue 9, the
//! pseudonymisation of a version-3 entry: the actor, subject or detail text may change only
//! together with the removal of that field's salt, everything chained stays, and a removed
//! salt does not come back. Every other update, and every delete, is still refused.
use crate::{col, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CHAINED: [&str; 13] = [
    "seq",
    "at",
    "action",
    "prev_hash",
    "hash",
    "ip_commitment",
    "chain_version",
    "actor_commitment",
    "subject_commitment",
    "detail_commitment",
    "actor",
    "subject",
    "detail",
];
const PSEUDONYMISABLE: [&str; 3] = ["actor", "subject", "detail"];

/// The sealed-IP changes of issue 9 (everything else unchanged), or a pseudonymisation of a
/// version-3 entry. `same` is the backend's null-safe equality.
fn allowed_update(same: &str) -> String {
    let unchanged = |columns: &[&str]| {
        columns
            .iter()
            .map(|c| format!("NEW.{c} {same} OLD.{c}"))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let salts: Vec<String> = PSEUDONYMISABLE
        .iter()
        .map(|f| format!("{f}_salt"))
        .collect();
    let mut ip_rule_columns: Vec<&str> = CHAINED.to_vec();
    ip_rule_columns.extend(salts.iter().map(String::as_str));
    let ip_rule = format!(
        "{} AND OLD.ip_address_sealed IS NOT NULL \
         AND (NEW.ip_address_sealed IS NOT NULL OR OLD.ip_commitment IS NOT NULL)",
        unchanged(&ip_rule_columns)
    );
    let mut kept: Vec<&str> = CHAINED[..10].to_vec();
    kept.push("ip_address_sealed");
    let fields = PSEUDONYMISABLE
        .iter()
        .map(|f| {
            format!(
                "((NEW.{f} {same} OLD.{f} AND NEW.{f}_salt {same} OLD.{f}_salt) \
                 OR NEW.{f}_salt IS NULL)"
            )
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    let pseudonymise = format!(
        "{} AND OLD.chain_version >= 3 AND {fields}",
        unchanged(&kept)
    );
    format!("(({ip_rule}) OR ({pseudonymise}))")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for field in PSEUDONYMISABLE {
            manager
                .alter_table(
                    Table::alter()
                        .table(table("audit_events"))
                        .add_column(col(&format!("{field}_commitment")).string().null())
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(table("audit_events"))
                        .add_column(col(&format!("{field}_salt")).blob().null())
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN \
                     IF TG_OP = 'UPDATE' AND {} THEN RETURN NEW; END IF; \
                     RAISE EXCEPTION 'the audit trail is append-only'; END $$",
                    allowed_update("IS NOT DISTINCT FROM")
                ))
                .await?;
            }
            _ => {
                db.execute_unprepared("DROP TRIGGER audit_events_no_update")
                    .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
                     WHEN NOT ({}) \
                     BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
                    allowed_update("IS")
                ))
                .await?;
            }
        }
        Ok(())
    }
}
