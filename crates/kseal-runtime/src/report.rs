//! What a reconcile tells the user: the status it writes and the event it publishes, both under the
//! reconciler's field manager. Neither ever carries the API server's message (it can quote values).

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter as EventReporter};

/// Writes statuses and publishes events for one reconciler.
#[derive(Clone)]
pub struct Reporter {
    client: kube::Client,
    field_manager: &'static str,
    /// Events are published only when something changed, so there is no series cache: kube's
    /// `Recorder` keeps every event it sent for six minutes, which after a burst of 10 000 new objects
    /// would be a large share of the controller's memory. One recorder per event is therefore cheap.
    events: EventReporter,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("field_manager", &self.field_manager)
            .finish_non_exhaustive()
    }
}

/// One event: Normal or Warning, a reason, a note (never a value) and the action that was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Warning (a failure) rather than Normal.
    pub warning: bool,
    /// The event's reason, e.g. `Unsealed`.
    pub reason: String,
    /// Human-readable detail; never a secret value.
    pub note: String,
    /// What the reconciler did, e.g. `Unseal`.
    pub action: &'static str,
}

impl Reporter {
    /// A reporter writing with `client` as `field_manager` (also the events' reporting controller).
    pub fn new(client: kube::Client, field_manager: &'static str) -> Self {
        Reporter {
            client,
            field_manager,
            events: EventReporter {
                controller: field_manager.into(),
                instance: None,
            },
        }
    }

    /// The field manager of everything this reporter writes.
    pub fn field_manager(&self) -> &'static str {
        self.field_manager
    }

    /// Merge-patches `status` onto the object `name` of `api`.
    pub async fn patch_status<K>(
        &self,
        api: &Api<K>,
        name: &str,
        status: &impl serde::Serialize,
    ) -> kube::Result<()>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let params = PatchParams {
            field_manager: Some(self.field_manager.to_owned()),
            ..PatchParams::default()
        };
        let patch = serde_json::json!({ "status": status });
        api.patch_status(name, &params, &Patch::Merge(&patch))
            .await
            .map(drop)
    }

    /// Publishes `notice` about `object`; a failure is only logged (without the server's message).
    pub async fn publish(&self, object: &impl kube::Resource<DynamicType = ()>, notice: Notice) {
        let event = Event {
            type_: if notice.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: notice.reason,
            note: Some(notice.note),
            action: notice.action.into(),
            secondary: None,
        };
        let recorder = Recorder::new(self.client.clone(), self.events.clone());
        if let Err(error) = recorder.publish(&event, &object.object_ref(&())).await {
            let what = format!("an event about {}", crate::meta::name_of(object));
            let error = kseal_api::api_error::describe(&what, &error);
            tracing::warn!(%error, "cannot publish event");
        }
    }
}
