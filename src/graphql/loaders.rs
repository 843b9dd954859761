//! Per-request DataLoaders over the request's pinned snapshot: every edge is loaded in batches,
//! typed by its ends (`snapshot::edges`), and no read touches the database.
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Context, Request, Response, ServerResult, Variables};
use chrono::Utc;

use crate::errors::internal_error;
use crate::memberships::Edge;
use crate::snapshot::{Day, EdgeDef, Kind, Snapshot, SnapshotStore};

/// Largest batch: above the number of sites we keep.
const MAX_BATCH: usize = 5_000;

/// The snapshot a request answers from: pinned on first use (so requests refused by the limits
/// never cost a build) and the same for the rest of the request.
pub struct Pinned {
    store: Option<Arc<SnapshotStore>>,
    cell: tokio::sync::OnceCell<Arc<Snapshot>>,
}

impl Pinned {
    /// Pinned to a snapshot the caller chose (the HTTP layer, for its ETag).
    pub fn to(snapshot: Arc<Snapshot>) -> Arc<Self> {
        Arc::new(Self {
            store: None,
            cell: tokio::sync::OnceCell::new_with(Some(snapshot)),
        })
    }

    /// Pinned to whatever the store serves when first asked.
    pub fn lazy(store: Arc<SnapshotStore>) -> Arc<Self> {
        Arc::new(Self {
            store: Some(store),
            cell: tokio::sync::OnceCell::new(),
        })
    }

    pub async fn get(&self) -> async_graphql::Result<Arc<Snapshot>> {
        self.cell
            .get_or_try_init(|| async {
                match &self.store {
                    Some(store) => store.pinned().await.map_err(|e| internal_error(&e)),
                    None => Err(internal_error(&"no snapshot pinned")),
                }
            })
            .await
            .cloned()
    }
}

/// The day "today" means for the whole request.
#[derive(Copy, Clone, Debug)]
pub struct Today(pub Day);

/// Key: the parent of a child on an edge, on a day.
pub struct Up<P> {
    edge: Edge,
    child: i32,
    day: Day,
    _p: PhantomData<fn() -> P>,
}

/// Key: the children of a parent on an edge, on a day.
pub struct Down<C> {
    edge: Edge,
    parent: i32,
    day: Day,
    _c: PhantomData<fn() -> C>,
}

macro_rules! key_traits {
    ($name:ident, $id:ident) => {
        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<T> Copy for $name<T> {}
        impl<T> PartialEq for $name<T> {
            fn eq(&self, o: &Self) -> bool {
                (self.edge, self.$id, self.day) == (o.edge, o.$id, o.day)
            }
        }
        impl<T> Eq for $name<T> {}
        impl<T> Hash for $name<T> {
            fn hash<H: Hasher>(&self, h: &mut H) {
                (self.edge, self.$id, self.day).hash(h)
            }
        }
    };
}
key_traits!(Up, child);
key_traits!(Down, parent);

/// Loads edges from the request's snapshot.
pub struct SnapshotLoader {
    pinned: Arc<Pinned>,
}

impl<P: Kind> Loader<Up<P>> for SnapshotLoader {
    type Value = Arc<P>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Up<P>]) -> async_graphql::Result<HashMap<Up<P>, Arc<P>>> {
        let s = &self.pinned.get().await?;
        Ok(keys
            .iter()
            .filter_map(|k| {
                let parent = s.edge(k.edge).parent_on(k.child, k.day)?;
                let m = P::table(s).get(parent)?.on(k.day)?;
                Some((*k, m.clone()))
            })
            .collect())
    }
}

impl<C: Kind> Loader<Down<C>> for SnapshotLoader {
    type Value = Arc<Vec<Arc<C>>>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Down<C>]) -> async_graphql::Result<HashMap<Down<C>, Self::Value>> {
        let s = &self.pinned.get().await?;
        let table = C::table(s);
        Ok(keys
            .iter()
            .map(|k| {
                let mut list: Vec<Arc<C>> = s
                    .edge(k.edge)
                    .children_on(k.parent, k.day)
                    .filter_map(|id| table.get(id)?.on(k.day).cloned())
                    .collect();
                list.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                list.dedup_by_key(|m| m.id());
                (*k, Arc::new(list))
            })
            .collect())
    }
}

fn loader<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a DataLoader<SnapshotLoader>> {
    ctx.data::<DataLoader<SnapshotLoader>>()
}

/// The request's snapshot.
pub async fn snapshot(ctx: &Context<'_>) -> async_graphql::Result<Arc<Snapshot>> {
    ctx.data::<Arc<Pinned>>()?.get().await
}

/// The request's "today".
pub fn today(ctx: &Context<'_>) -> Day {
    ctx.data_opt::<Today>()
        .map(|t| t.0)
        .unwrap_or_else(|| Utc::now().date_naive())
}

/// The parent of `child` on a typed edge, on `day`.
pub async fn up<C: Kind, P: Kind>(
    ctx: &Context<'_>,
    e: EdgeDef<C, P>,
    child: i32,
    day: Day,
) -> async_graphql::Result<Option<Arc<P>>> {
    // A mutation's report shows the parents the call leaves (even in a dry run).
    if let Some(reported) = ctx
        .data_opt::<ReportedParents>()
        .and_then(|r| r.get(e.edge, child))
    {
        let s = snapshot(ctx).await?;
        return Ok(reported.and_then(|p| P::table(&s).get(p).map(|r| r.version_on(day).clone())));
    }
    let key = Up {
        edge: e.edge,
        child,
        day,
        _p: PhantomData,
    };
    loader(ctx)?.load_one(key).await
}

/// The children of `parent` on a typed edge, on `day`, in list order.
pub async fn down<C: Kind, P: Kind>(
    ctx: &Context<'_>,
    e: EdgeDef<C, P>,
    parent: i32,
    day: Day,
) -> async_graphql::Result<Arc<Vec<Arc<C>>>> {
    let key = Down {
        edge: e.edge,
        parent,
        day,
        _c: PhantomData,
    };
    Ok(loader(ctx)?.load_one(key).await?.unwrap_or_default())
}

/// Parents a mutation's report shows for the sites it touched, as the call left them. A dry run
/// rolls its transaction back, so without these its report would show the data as it is rather
/// than as applying would leave it. Empty for queries.
#[derive(Default)]
pub struct ReportedParents(std::sync::Mutex<HashMap<(Edge, i32), Option<i32>>>);

impl ReportedParents {
    /// Records the parent (or none) of `child_id` on `edge` for the rest of the request.
    pub fn set(&self, edge: Edge, child_id: i32, parent_id: Option<i32>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert((edge, child_id), parent_id);
    }

    fn get(&self, edge: Edge, child_id: i32) -> Option<Option<i32>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(edge, child_id)).copied()
    }
}

/// Gives every request (HTTP or direct `Schema::execute`) its snapshot pin (unless the HTTP
/// layer pinned one already), its own DataLoader over it, and after a mutation brings the
/// snapshot up to date before the response leaves, so the next request sees the write.
pub struct PerRequestLoaders {
    pub store: Arc<SnapshotStore>,
}

impl ExtensionFactory for PerRequestLoaders {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PerRequestLoadersExtension {
            store: self.store.clone(),
            mutation: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

struct PerRequestLoadersExtension {
    store: Arc<SnapshotStore>,
    mutation: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Extension for PerRequestLoadersExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let pinned = match request.data.get(&std::any::TypeId::of::<Arc<Pinned>>()) {
            Some(p) => p.downcast_ref::<Arc<Pinned>>().cloned(),
            None => None,
        };
        let pinned = match pinned {
            Some(p) => p,
            None => {
                let p = Pinned::lazy(self.store.clone());
                request = request.data(p.clone());
                p
            }
        };
        if request.data.get(&std::any::TypeId::of::<Today>()).is_none() {
            request = request.data(Today(Utc::now().date_naive()));
        }
        let loader = DataLoader::new(SnapshotLoader { pinned }, tokio::spawn)
            .max_batch_size(MAX_BATCH)
            // Keys of one level arrive together; waiting for more only adds latency.
            .delay(std::time::Duration::ZERO);
        let request = request.data(loader).data(ReportedParents::default());
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let mutation = doc
            .operations
            .iter()
            .any(|(_, op)| op.node.ty == OperationType::Mutation);
        self.mutation
            .store(mutation, std::sync::atomic::Ordering::Relaxed);
        Ok(doc)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        if self.mutation.load(std::sync::atomic::Ordering::Relaxed) {
            // A failed rebuild is logged and retried by the watcher; the write itself stands.
            let _ = self.store.refresh().await;
        }
        response
    }
}
