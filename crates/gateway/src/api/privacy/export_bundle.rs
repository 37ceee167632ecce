//! The streamed export download (`GET /v1/privacy-downloads/{token}`): its two bodies, the
//! JSON bundle and one source as CSV, each a stream over the export's sealed parts (the
//! domain's [`ExportStream`] opens one part per chunk), and the schema the spec declares for
//! them. The response never holds the whole bundle.

use crate::api::privacy::data_map::{CategoryView, PurposeView, RetentionClassView};
use chrono::{DateTime, Utc};
use hub_privacy_addenda::requests::export::ExportStream;
use poem::{Body, IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Enum, Object, ResponseContent};
use std::collections::BTreeMap;
use uuid::Uuid;

/// How the download is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DownloadFormat {
    Json,
    Csv,
}

/// A field the institution keeps because a law requires it (C9).
#[derive(Debug, Clone, Object)]
pub struct LegalObligationFieldView {
    pub table: String,
    pub column: String,
    pub category: CategoryView,
}

/// One source in the manifest.
#[derive(Debug, Clone, Object)]
pub struct ManifestSourceView {
    pub source: String,
    /// Records of the person this source's part of the bundle holds.
    pub records: u64,
    /// Sealed parts they were written in (pages).
    pub parts: u64,
    pub categories: Vec<CategoryView>,
    pub purposes: Vec<PurposeView>,
    pub retention: Vec<RetentionClassView>,
    /// Who outside the platform receives this data.
    pub recipients: Vec<String>,
    /// Some of it is kept because a law requires it (C9): see the note and the fields.
    pub legal_obligation: bool,
    #[oai(nullable)]
    pub legal_obligation_note: Option<String>,
    pub legal_obligation_fields: Vec<LegalObligationFieldView>,
}

/// What the bundle holds, written first.
#[derive(Debug, Clone, Object)]
pub struct ExportManifestView {
    pub request_id: Uuid,
    pub generated_at: DateTime<Utc>,
    pub format: String,
    /// The formats the bundle can be downloaded in.
    pub formats: Vec<String>,
    /// The bundle is deleted after this.
    pub available_until: DateTime<Utc>,
    /// Sources whose task was skipped (switched off, kept under a legal hold).
    pub skipped: Vec<String>,
    pub sources: Vec<ManifestSourceView>,
}

/// The JSON bundle: the manifest, then every record of each source, in the source's order.
#[derive(Debug, Clone, Object)]
pub struct ExportBundleView {
    pub manifest: ExportManifestView,
    /// Per source name, its records (each an object the source defines).
    pub sources: BTreeMap<String, Vec<serde_json::Value>>,
}

/// A body streamed from the export's parts.
pub struct Streamed<const CSV: bool>(pub ExportStream);

fn body_of(stream: ExportStream) -> Body {
    let chunks = futures::stream::unfold(stream, |mut stream| async move {
        match stream.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), stream)),
            Ok(None) => None,
            // Past the first byte the status is sent: a failure ends the body short (the
            // client sees a truncated download, never a partial one passing for whole).
            Err(error) => {
                tracing::warn!(%error, "an export download failed mid-stream");
                Some((Err(std::io::Error::other(error.to_string())), stream))
            }
        }
    });
    Body::from_bytes_stream(chunks)
}

impl Payload for Streamed<false> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn schema_ref() -> MetaSchemaRef {
        <ExportBundleView as Type>::schema_ref()
    }

    fn register(registry: &mut Registry) {
        <ExportBundleView as Type>::register(registry);
    }
}

impl Payload for Streamed<true> {
    const CONTENT_TYPE: &'static str = "text/csv";

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some(
                "RFC 4180, a header row of the source's flattened columns (nested objects as \
                 dotted names, arrays as JSON text) first; a cell starting with =, +, -, @, \
                 tab or CR is prefixed by '",
            ),
            ..MetaSchema::new("string")
        }))
    }
}

impl<const CSV: bool> IntoResponse for Streamed<CSV>
where
    Streamed<CSV>: Payload,
{
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(<Self as Payload>::CONTENT_TYPE)
            .body(body_of(self.0))
    }
}

#[derive(ResponseContent)]
pub enum BundleBody {
    /// The whole bundle (or one source's part of it, with `source`).
    Json(Streamed<false>),
    /// One source's records, one row each.
    #[oai(content_type = "text/csv; charset=utf-8")]
    Csv(Streamed<true>),
}

#[derive(ApiResponse)]
pub enum Bundle {
    /// The export bundle, streamed.
    #[oai(status = 200)]
    Ok(
        BundleBody,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}
