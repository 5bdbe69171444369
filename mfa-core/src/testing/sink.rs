use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::events::{Event, EventKind, EventSink};

/// An event sink that keeps every event in memory. Clones share the same list.
#[derive(Debug, Clone, Default)]
pub struct RecordingEventSink(Arc<Mutex<Vec<Event>>>);

impl RecordingEventSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Every event kind so far.
    pub fn kinds(&self) -> Vec<EventKind> {
        self.events().into_iter().map(|e| e.kind).collect()
    }

    /// Forgets every event.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

#[async_trait]
impl EventSink for RecordingEventSink {
    async fn record(&self, event: &Event) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(event.clone());
    }
}
