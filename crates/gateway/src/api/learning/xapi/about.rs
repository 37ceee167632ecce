//! `/xapi/about` (xAPI-Communication 2.8): the versions this LRS speaks.

use crate::api::ApiTags;
use crate::problem::ApiError;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

/// What the LRS says about itself.
#[derive(Debug, Clone, Object)]
pub struct XapiAbout {
    /// The xAPI versions this LRS speaks.
    pub version: Vec<String>,
}

#[derive(ApiResponse)]
pub enum AboutAnswered {
    /// The versions this LRS speaks.
    #[oai(status = 200)]
    Ok(Json<XapiAbout>),
}

#[derive(Default)]
pub struct AboutApi;

#[OpenApi(tag = "ApiTags::Lrs")]
impl AboutApi {
    /// About the LRS
    ///
    /// The xAPI versions this Learning Record Store speaks. Takes no credential and no
    /// `X-Experience-API-Version` (xAPI-Communication 2.8).
    #[oai(path = "/xapi/about", method = "get", operation_id = "getXapiAbout")]
    async fn about(&self) -> Result<AboutAnswered, ApiError> {
        Ok(AboutAnswered::Ok(Json(XapiAbout {
            version: vec![hub_course::xapi::VERSION.to_string()],
        })))
    }
}
