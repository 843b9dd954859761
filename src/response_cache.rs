//! Caching query responses over HTTP. A response is fixed by the snapshot it was answered from,
//! the day "today" meant, and the request (query, operation, variables), so those make its
//! `ETag` and its cache key. A new snapshot empties the cache; only successful queries are kept.
use std::sync::Mutex;

use axum::body::Bytes;
use sha2::{Digest, Sha256};

use crate::snapshot::{DataVersion, Day};

/// What identifies a cacheable response.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    version: DataVersion,
    today: Day,
    request: [u8; 16],
}

impl CacheKey {
    pub fn new(version: DataVersion, today: Day, request: &async_graphql::Request) -> Self {
        let mut h = Sha256::new();
        for part in [
            request.query.as_bytes(),
            b"\0",
            request.operation_name.as_deref().unwrap_or("").as_bytes(),
            b"\0",
        ] {
            h.update(part);
        }
        h.update(serde_json::to_vec(&request.variables).unwrap_or_default());
        let digest = h.finalize();
        let mut request = [0u8; 16];
        request.copy_from_slice(&digest[..16]);
        Self {
            version,
            today,
            request,
        }
    }

    /// The key of a REST GET: the route and its query string stand in for the request.
    pub fn for_route(version: DataVersion, today: Day, path_and_query: &str) -> Self {
        let digest = Sha256::new()
            .chain_update(b"rest\0")
            .chain_update(path_and_query.as_bytes())
            .finalize();
        let mut request = [0u8; 16];
        request.copy_from_slice(&digest[..16]);
        Self {
            version,
            today,
            request,
        }
    }

    /// The strong validator clients send back in `If-None-Match`.
    pub fn etag(&self) -> String {
        format!(
            "\"{}-{}-{}\"",
            self.version,
            self.today.format("%Y%m%d"),
            hex::encode(self.request)
        )
    }
}

/// Whether a request may be cached and revalidated: queries only, never anything that could be
/// a mutation (checked on the text, before parsing: a false "maybe" only costs a cache miss).
pub fn cacheable(query: &str) -> bool {
    !query.contains("mutation") && !query.contains("subscription")
}

/// Bounded store of response bodies.
pub struct ResponseCache {
    entries: moka::sync::Cache<CacheKey, Bytes>,
    version: Mutex<Option<DataVersion>>,
}

impl ResponseCache {
    /// A cache of at most `mib` MiB of bodies; `None` for 0 (off).
    pub fn new(mib: u64) -> Option<Self> {
        if mib == 0 {
            return None;
        }
        let entries = moka::sync::Cache::builder()
            .max_capacity(mib.saturating_mul(1024 * 1024))
            .weigher(|_k: &CacheKey, v: &Bytes| {
                u32::try_from(v.len().saturating_add(64)).unwrap_or(u32::MAX)
            })
            .build();
        Some(Self {
            entries,
            version: Mutex::new(None),
        })
    }

    /// Empties the cache when the snapshot changed since it was last used.
    fn follow(&self, version: DataVersion) {
        let mut seen = self.version.lock().unwrap_or_else(|e| e.into_inner());
        if *seen != Some(version) {
            self.entries.invalidate_all();
            *seen = Some(version);
        }
    }

    pub fn get(&self, key: &CacheKey) -> Option<Bytes> {
        self.follow(key.version);
        self.entries.get(key)
    }

    pub fn insert(&self, key: CacheKey, body: Bytes) {
        self.follow(key.version);
        self.entries.insert(key, body);
    }

    /// Bytes held (approximate; for tests and metrics).
    pub fn weighted_size(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }
}
