//! The vocabulary of personal-data declarations: each crate declares every personal-data
//! field it stores, in code, with its category, purpose and retention class
//! ([`FieldClassification`]), and how its sealed tables name their rows ([`SealedTable`]).
//! Key rotation's re-sealer ([`sealed_columns`]), the classification tests (every declared
//! field is stored sealed; every sealed column of the live schema is declared) and, through
//! each personal-data source's `fields()`, data-subject requests, the data map, the record of
//! processing and the retention sweeper (hub-privacy-addenda) read these declarations.

use serde::Serialize;

/// The kinds of personal data the privacy policy names (C1–C5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataCategory {
    /// Name, username, date of birth (C1).
    Identity,
    /// Email, phone (C2).
    Contact,
    /// Enrollments, progress, scores, activity, certificates (C3).
    Learning,
    /// Payment confirmations, transaction ids, billing history (C4).
    Payment,
    /// IP address, browser, device identifiers, session times (C5).
    Technical,
}

impl DataCategory {
    pub const ALL: [DataCategory; 5] = [
        DataCategory::Identity,
        DataCategory::Contact,
        DataCategory::Learning,
        DataCategory::Payment,
        DataCategory::Technical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DataCategory::Identity => "identity",
            DataCategory::Contact => "contact",
            DataCategory::Learning => "learning",
            DataCategory::Payment => "payment",
            DataCategory::Technical => "technical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// Why a field is collected (C8: each requested data point has a stated purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Running the account and the institution's relationship with the platform (U1).
    ServiceDelivery,
    /// Essential messages: security notices, policy updates (C2, U4).
    EssentialCommunication,
    /// Security, troubleshooting and fraud prevention (C5).
    Security,
    /// Kept because a law requires it (C9).
    LegalObligation,
    /// Tailoring the service to the person (U3: recommendations from stated preferences):
    /// used only while their consent covers it (the consent gate, purpose `personalisation`).
    Personalisation,
}

/// How long a field lives; the tenant's retention profile turns a class into a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionClass {
    /// Kept while the institution is a customer; destroyed at offboarding.
    TenantLifetime,
    /// Governed by the tenant's retention period for the field's category.
    CategoryPeriod,
    /// Short-lived technical data (sessions, rate counters).
    Ephemeral,
}

/// The declaration of one personal-data column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FieldClassification {
    pub table: &'static str,
    pub column: &'static str,
    pub category: DataCategory,
    pub purpose: Purpose,
    pub retention: RetentionClass,
    /// Identifies a person: stored only as ciphertext under the tenant's key.
    pub identifying: bool,
    /// Whether an equality blind index column exists beside it.
    pub blind_index: bool,
    /// Optional fields can be left empty (C8).
    pub optional: bool,
}

/// How the rows of a table with sealed columns are named in a ciphertext's associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKey {
    /// A UUID primary-key column: the row is that UUID.
    Uuid(&'static str),
    /// An integer sequence column: the row is `Uuid::from_u64_pair(0, seq)`.
    Sequence(&'static str),
}

/// A table that holds sealed columns: how its rows are keyed, and the column (if any) where
/// it also records the key version its row was last sealed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SealedTable {
    pub table: &'static str,
    pub row_key: RowKey,
    pub version_column: Option<&'static str>,
}

/// A sealed value that is not personal data but is sealed under the tenant key all the same
/// (an SSO client secret). Declared beside the personal fields so re-sealing reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SealedSecret {
    pub table: &'static str,
    pub column: &'static str,
}

/// One sealed column as key rotation reaches it: the ciphertext lives in `<field>_sealed`
/// of `table` and is bound to (`table`, `field`, row) by its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SealedColumn {
    pub table: SealedTable,
    pub field: &'static str,
}

impl SealedColumn {
    /// The stored column's name.
    pub fn stored(&self) -> String {
        format!("{}_sealed", self.field)
    }
}

/// The sealed columns a crate declares: every identifying personal field and every sealed
/// secret, each with its table's row key. A field whose table has no [`SealedTable`] entry is
/// returned in the error, so a missing declaration is found, not skipped.
pub fn sealed_columns(
    fields: &[FieldClassification],
    secrets: &[SealedSecret],
    tables: &[SealedTable],
) -> Result<Vec<SealedColumn>, String> {
    let named = fields
        .iter()
        .filter(|f| f.identifying)
        .map(|f| (f.table, f.column))
        .chain(secrets.iter().map(|s| (s.table, s.column)));
    named
        .map(|(table, field)| {
            tables
                .iter()
                .find(|t| t.table == table)
                .map(|t| SealedColumn { table: *t, field })
                .ok_or_else(|| format!("{table}.{field} is sealed but {table} has no SealedTable"))
        })
        .collect()
}

/// How the value behind a blind index (`<field>_index` of `table`) is found again when the
/// index key rotates. Declared beside the personal fields; every field declared with
/// `blind_index: true` needs one ([`indexed_columns`] reports a missing one).
#[derive(Debug, Clone, Copy)]
pub struct BlindIndexed {
    pub table: &'static str,
    pub field: &'static str,
    /// `Some`: the value is stored sealed in `<field>_sealed`; re-indexing opens it and
    /// applies this, the crate's normalisation before indexing (so it gives what a lookup
    /// computes). `None`: the value is not stored at all (an IdP's subject), so no job can
    /// re-index it; such a row moves to the new key when the value is next presented.
    pub normalise: Option<fn(&str) -> String>,
}

/// One blind-index column as index-key rotation reaches it.
#[derive(Debug, Clone, Copy)]
pub struct IndexedColumn {
    pub table: &'static str,
    pub field: &'static str,
    /// How rows are keyed, for a column re-indexed from its sealed value.
    pub row_key: Option<SealedTable>,
    pub normalise: Option<fn(&str) -> String>,
}

impl IndexedColumn {
    /// The stored index column's name.
    pub fn stored(&self) -> String {
        format!("{}_index", self.field)
    }

    /// The sealed column the value is re-indexed from.
    pub fn source(&self) -> String {
        format!("{}_sealed", self.field)
    }
}

/// The blind-index columns a crate declares, each with how it is re-indexed. A field with a
/// blind index and no [`BlindIndexed`], or a re-indexable one whose table has no
/// [`SealedTable`], is returned in the error, so a missing declaration is found, not skipped.
pub fn indexed_columns(
    fields: &[FieldClassification],
    indexes: &[BlindIndexed],
    tables: &[SealedTable],
) -> Result<Vec<IndexedColumn>, String> {
    for field in fields.iter().filter(|f| f.blind_index) {
        if !indexes
            .iter()
            .any(|i| i.table == field.table && i.field == field.column)
        {
            return Err(format!(
                "{}.{} has a blind index but no BlindIndexed declaration",
                field.table, field.column
            ));
        }
    }
    indexes
        .iter()
        .map(|i| {
            let row_key = tables.iter().find(|t| t.table == i.table).copied();
            if i.normalise.is_some() && row_key.is_none() {
                return Err(format!(
                    "{}.{} is re-indexed from its sealed value but {} has no SealedTable",
                    i.table, i.field, i.table
                ));
            }
            Ok(IndexedColumn {
                table: i.table,
                field: i.field,
                row_key,
                normalise: i.normalise,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELD: FieldClassification = FieldClassification {
        table: "t",
        column: "c",
        category: DataCategory::Contact,
        purpose: Purpose::ServiceDelivery,
        retention: RetentionClass::TenantLifetime,
        identifying: true,
        blind_index: false,
        optional: false,
    };
    const TABLE: SealedTable = SealedTable {
        table: "t",
        row_key: RowKey::Uuid("id"),
        version_column: None,
    };

    #[test]
    fn a_sealed_column_without_a_row_key_is_an_error_not_a_gap() {
        let secret = SealedSecret {
            table: "u",
            column: "secret",
        };
        assert_eq!(
            sealed_columns(&[FIELD], &[secret], &[TABLE]),
            Err("u.secret is sealed but u has no SealedTable".to_string())
        );
        let columns = sealed_columns(
            &[
                FIELD,
                FieldClassification {
                    identifying: false,
                    column: "plain",
                    ..FIELD
                },
            ],
            &[],
            &[TABLE],
        )
        .unwrap();
        assert_eq!(columns.len(), 1, "only identifying fields are sealed");
        assert_eq!(columns[0].stored(), "c_sealed");
    }

    #[test]
    fn a_blind_index_without_its_declaration_is_an_error_not_a_gap() {
        let indexed = FieldClassification {
            blind_index: true,
            ..FIELD
        };
        assert_eq!(
            indexed_columns(&[indexed], &[], &[TABLE]).unwrap_err(),
            "t.c has a blind index but no BlindIndexed declaration"
        );
        let lower: fn(&str) -> String = |v| v.to_lowercase();
        let declared = BlindIndexed {
            table: "t",
            field: "c",
            normalise: Some(lower),
        };
        assert_eq!(
            indexed_columns(&[indexed], &[declared], &[]).unwrap_err(),
            "t.c is re-indexed from its sealed value but t has no SealedTable"
        );
        let columns = indexed_columns(&[indexed], &[declared], &[TABLE]).unwrap();
        assert_eq!(
            (columns[0].stored(), columns[0].source()),
            ("c_index".to_string(), "c_sealed".to_string())
        );
    }
}
