//! The privacy service: one per process, holding the tenancy (for the registered sources) and
//! the ports to people that identity implements and the gateway wires.

use hub_tenant::Tenancy;
use hub_tenant::personal_data::{EssentialMessages, SubjectDirectory};
use std::sync::Arc;

pub struct Privacy {
    pub(crate) tenancy: Arc<Tenancy>,
    pub(crate) directory: Arc<dyn SubjectDirectory>,
    pub(crate) messages: Arc<dyn EssentialMessages>,
    /// The retention sweeper's state in this process.
    pub(crate) retention: crate::retention::Runner,
    /// Data-subject requests' clock and switches ([`crate::requests::RequestSettings`]).
    pub(crate) requests: crate::requests::RequestSettings,
}

impl Privacy {
    pub fn new(
        tenancy: Arc<Tenancy>,
        directory: Arc<dyn SubjectDirectory>,
        messages: Arc<dyn EssentialMessages>,
    ) -> Self {
        Self {
            tenancy,
            directory,
            messages,
            retention: Default::default(),
            requests: Default::default(),
        }
    }

    /// The people directory (identity's), for the request and consent services.
    pub fn directory(&self) -> &Arc<dyn SubjectDirectory> {
        &self.directory
    }

    /// Essential messages to people (identity's outbox).
    pub fn messages(&self) -> &Arc<dyn EssentialMessages> {
        &self.messages
    }

    pub fn tenancy(&self) -> &Arc<Tenancy> {
        &self.tenancy
    }
}
