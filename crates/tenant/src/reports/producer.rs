//! What a domain crate registers to have its records reported: one [`ReportProducer`] per
//! population it counts (`DomainModule::report_producers`). A producer reads aggregates
//! for one period; everything a report shows is then decided here, once for every crate:
//! the suppression ([`crate::reports::disclosure`]) and which fields a report names
//! ([`fields_of`]).

use crate::TenantScope;
use crate::error::TenantError;
use crate::profile::ReportKind;
use crate::reports::disclosure::Population;
use crate::reports::period::Period;

#[async_trait::async_trait]
pub trait ReportProducer: Send + Sync {
    /// The population it counts (`enrollments`), unique across crates: every report of one
    /// population over one period shows the same suppressed tables.
    fn population(&self) -> &'static str;
    /// The report kinds that show this population.
    fn kinds(&self) -> &'static [ReportKind];
    /// The dimensions a report may break the population down by (`course`, `cohort`).
    fn dimensions(&self) -> &'static [&'static str];
    /// The field the population's classes are values of (`state`).
    fn class_field(&self) -> &'static str;
    /// Counts the population over `period`: records only, never who they are about. Reads
    /// within `scope` (a platform job's or the caller's unit of work); the reports service
    /// has checked the caller's scope.
    async fn count(&self, scope: &TenantScope, period: &Period) -> Result<Population, TenantError>;
    /// The population every record of this one also belongs to, over the same period and
    /// with the same labels (a certificate issued in a period comes with a completion
    /// recorded in it), if any. Linked populations are counted and suppressed together
    /// ([`crate::reports::disclosure::publish_linked`]) and reported over the same periods.
    fn within(&self) -> Option<&'static str> {
        None
    }
}

/// The producers whose populations are linked with `population` (it is within theirs, or
/// theirs within it), `population`'s own first.
pub fn linked_group(population: &str) -> Vec<Box<dyn ReportProducer>> {
    let all: Vec<Box<dyn ReportProducer>> = crate::module::installed()
        .iter()
        .flat_map(|m| (m.report_producers)())
        .collect();
    let own_within = all
        .iter()
        .find(|p| p.population() == population)
        .and_then(|p| p.within());
    let mut group: Vec<Box<dyn ReportProducer>> = all
        .into_iter()
        .filter(|p| {
            p.population() == population
                || p.within() == Some(population)
                || own_within == Some(p.population())
        })
        .collect();
    group.sort_by_key(|p| p.population() != population);
    group
}

/// The producer installed for a kind, if any.
pub fn producer_for(kind: ReportKind) -> Option<Box<dyn ReportProducer>> {
    crate::module::installed()
        .iter()
        .flat_map(|m| (m.report_producers)())
        .find(|p| p.kinds().contains(&kind))
}

/// What a report names in `fields`, checked against its producer: each field is one of the
/// population's dimensions or its class field, named once, and at most one dimension (two
/// dimensions crossed would share cells with both their tables). `Err` holds one message
/// per field, by index. Kinds that must name their fields (accreditation: the minimum the
/// institution is asked for) need at least one.
pub fn fields_of(
    producer: &dyn ReportProducer,
    kind: ReportKind,
    fields: &[String],
) -> Result<(), Vec<(Option<usize>, String)>> {
    let mut errors = Vec::new();
    let mut dimensions = 0;
    for (i, field) in fields.iter().enumerate() {
        if fields[..i].contains(field) {
            errors.push((Some(i), "named twice".to_string()));
        } else if producer.dimensions().contains(&field.as_str()) {
            dimensions += 1;
            if dimensions > 1 {
                errors.push((
                    Some(i),
                    "a report breaks its records down by one dimension at most".to_string(),
                ));
            }
        } else if field != producer.class_field() {
            let mut known: Vec<&str> = producer.dimensions().to_vec();
            known.push(producer.class_field());
            errors.push((
                Some(i),
                format!(
                    "unknown field for {}; one of: {}",
                    kind.as_str(),
                    known.join(", ")
                ),
            ));
        }
    }
    if kind == ReportKind::Accreditation && fields.is_empty() {
        errors.push((
            None,
            "an accreditation report names the fields it needs (at least one)".to_string(),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
