//! Tenant migrations, oldest first. Applied inside each tenant's own schema or file.
use sea_orm_migration::prelude::*;

mod m20261129_000001_catalog;
mod m20261129_000002_contacts;
mod m20261129_000003_people;
mod m20261129_000004_audit;
mod m20261129_000005_incidents;
mod m20261129_000006_scim;
mod m20261129_000007_local_accounts;
mod m20261129_000008_saml;
mod m20261129_000009_access_reviews;
mod m20261201_000010_outbox_delivery;
mod m20261201_000011_password_reset_required;
mod m20261201_000012_scim_deprovisioned;
mod m20261201_000013_scim_user_attributes;
mod m20261201_000101_audit_ip_commitment;
mod m20261201_000202_sealed_idp_subject;
mod m20261201_000301_privacy_requests;
mod m20261201_000401_consent_and_policy;
mod m20261201_000501_audit_pseudonymisable;
mod m20261201_000601_legal_holds_and_retention;
mod m20261201_000701_person_restriction;
mod m20261201_000801_privacy_addenda;
mod m20261201_000802_incident_notification_due;
mod m20261201_000901_privacy_export_parts;
mod m20261201_001001_privacy_contact_and_alerts;
mod m20261201_001101_privacy_export_cursor;
mod m20261201_001106_objection_and_rectification;
mod m20261201_001107_person_jurisdiction;
mod m20261201_001201_enrollments;
mod m20261201_001202_org_units;
mod m20261201_001211_course_structure_and_quizzes;
mod m20261201_001221_xapi_statements;
mod m20261201_001222_xapi_documents;
mod m20261201_001231_progress_attempts_completions;
mod m20261201_001241_certificates;
mod m20261202_001251_automated_decisions;
mod m20261202_001261_minors_and_guardians;
mod m20261202_001281_xapi_document_key;
mod m20261202_001291_learning_preferences;
mod m20261202_001292_course_reminders;
mod m20261202_001295_xapi_statements_voids_index;
mod m20261202_001297_xapi_statement_filter_indexes;
mod m20261202_001301_report_runs;
mod m20261202_001311_xapi_attachments;
mod m20261202_001312_xapi_statement_targets;
mod m20261202_001321_course_certificate_deadline;
mod m20261203_001331_course_prerequisites;
mod m20261203_001332_quiz_adaptive;
mod m20261203_001340_xapi_statement_targets_pending;
mod m20261203_001401_person_country;
mod m20261204_001501_billing;
mod m20261204_001521_billing_payment_fulfilment;
mod m20261204_001522_billing_reconciliation_runs;
mod m20261204_001523_billing_payouts;

pub fn all() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261129_000001_catalog::Migration),
        Box::new(m20261129_000002_contacts::Migration),
        Box::new(m20261129_000003_people::Migration),
        Box::new(m20261129_000004_audit::Migration),
        Box::new(m20261129_000005_incidents::Migration),
        Box::new(m20261129_000006_scim::Migration),
        Box::new(m20261129_000007_local_accounts::Migration),
        Box::new(m20261129_000008_saml::Migration),
        Box::new(m20261129_000009_access_reviews::Migration),
        Box::new(m20261201_000010_outbox_delivery::Migration),
        Box::new(m20261201_000011_password_reset_required::Migration),
        Box::new(m20261201_000012_scim_deprovisioned::Migration),
        Box::new(m20261201_000013_scim_user_attributes::Migration),
        Box::new(m20261201_000101_audit_ip_commitment::Migration),
        Box::new(m20261201_000202_sealed_idp_subject::Migration),
        Box::new(m20261201_000301_privacy_requests::Migration),
        Box::new(m20261201_000401_consent_and_policy::Migration),
        Box::new(m20261201_000501_audit_pseudonymisable::Migration),
        Box::new(m20261201_000601_legal_holds_and_retention::Migration),
        Box::new(m20261201_000701_person_restriction::Migration),
        Box::new(m20261201_000801_privacy_addenda::Migration),
        Box::new(m20261201_000802_incident_notification_due::Migration),
        Box::new(m20261201_000901_privacy_export_parts::Migration),
        Box::new(m20261201_001001_privacy_contact_and_alerts::Migration),
        Box::new(m20261201_001101_privacy_export_cursor::Migration),
        Box::new(m20261201_001106_objection_and_rectification::Migration),
        Box::new(m20261201_001107_person_jurisdiction::Migration),
        Box::new(m20261201_001211_course_structure_and_quizzes::Migration),
        Box::new(m20261201_001201_enrollments::Migration),
        Box::new(m20261201_001202_org_units::Migration),
        Box::new(m20261201_001221_xapi_statements::Migration),
        Box::new(m20261201_001222_xapi_documents::Migration),
        Box::new(m20261201_001231_progress_attempts_completions::Migration),
        Box::new(m20261201_001241_certificates::Migration),
        Box::new(m20261202_001251_automated_decisions::Migration),
        Box::new(m20261202_001261_minors_and_guardians::Migration),
        Box::new(m20261202_001281_xapi_document_key::Migration),
        Box::new(m20261202_001291_learning_preferences::Migration),
        Box::new(m20261202_001292_course_reminders::Migration),
        Box::new(m20261202_001295_xapi_statements_voids_index::Migration),
        Box::new(m20261202_001297_xapi_statement_filter_indexes::Migration),
        Box::new(m20261202_001301_report_runs::Migration),
        Box::new(m20261202_001311_xapi_attachments::Migration),
        Box::new(m20261202_001312_xapi_statement_targets::Migration),
        Box::new(m20261202_001321_course_certificate_deadline::Migration),
        Box::new(m20261203_001331_course_prerequisites::Migration),
        Box::new(m20261203_001332_quiz_adaptive::Migration),
        Box::new(m20261203_001340_xapi_statement_targets_pending::Migration),
        Box::new(m20261203_001401_person_country::Migration),
        Box::new(m20261204_001501_billing::Migration),
        Box::new(m20261204_001521_billing_payment_fulfilment::Migration),
        Box::new(m20261204_001522_billing_reconciliation_runs::Migration),
        Box::new(m20261204_001523_billing_payouts::Migration),
    ]
}
