//! Per-request DataLoaders over the request's pinned snapshot: every edge of a query level is
//! loaded in one batch, typed by its ends (`snapshot::edges`), and no read touches the database.
// Keys are small integers and codes we own, so a fast non-DoS-resistant hash is safe here.
use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Request};
use chrono::Utc;
use tokio::sync::OnceCell;

use crate::errors::internal_error;
use crate::memberships::Edge;
use crate::snapshot::{Day, EdgeDef, Kind, Snapshot, SnapshotStore};

/// A batch starts as soon as a level asks: every key of a level comes in one `load_many`,
/// so there is nothing to wait for, and this size never splits a level's keys.
const START_AT_ONCE: usize = 1;

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

    /// Borrowed, not cloned: every edge of every object asks, and cloning would bounce the
    /// shared snapshot's reference count between the worker threads.
    pub async fn get(&self) -> async_graphql::Result<&Arc<Snapshot>> {
        self.cell
            .get_or_try_init(|| async {
                match &self.store {
                    Some(store) => store.pinned().await.map_err(|e| internal_error(&e)),
                    None => Err(internal_error(&"no snapshot pinned")),
                }
            })
            .await
    }
}

/// The day "today" means for the whole request.
#[derive(Copy, Clone, Debug)]
pub struct Today(pub Day);

/// Key: the parent (by id) of a child on an edge, on a day.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ParentOf {
    edge: Edge,
    child: i32,
    day: Day,
}

/// Key: the children (by id) of a parent on an edge, on a day.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChildrenOf {
    edge: Edge,
    parent: i32,
    day: Day,
}

/// Loads edges from the request's snapshot.
pub struct SnapshotLoader {
    pinned: Arc<Pinned>,
}

impl Loader<ParentOf> for SnapshotLoader {
    type Value = i32;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ParentOf],
    ) -> async_graphql::Result<std::collections::HashMap<ParentOf, i32>> {
        let s = self.pinned.get().await?;
        Ok(keys
            .iter()
            .filter_map(|k| Some((*k, s.edge(k.edge).parent_on(k.child, k.day)?)))
            .collect())
    }
}

impl Loader<ChildrenOf> for SnapshotLoader {
    type Value = Arc<Vec<i32>>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ChildrenOf],
    ) -> async_graphql::Result<std::collections::HashMap<ChildrenOf, Arc<Vec<i32>>>> {
        let s = self.pinned.get().await?;
        Ok(keys
            .iter()
            .map(|k| {
                let ids = s.edge(k.edge).children_on(k.parent, k.day).collect();
                (*k, Arc::new(ids))
            })
            .collect())
    }
}

fn loader<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a DataLoader<SnapshotLoader>> {
    ctx.data::<DataLoader<SnapshotLoader>>()
}

/// The request's snapshot.
pub async fn snapshot<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Arc<Snapshot>> {
    ctx.data::<Arc<Pinned>>()?.get().await
}

/// The request's "today".
pub fn today(ctx: &Context<'_>) -> Day {
    ctx.data_opt::<Today>()
        .map(|t| t.0)
        .unwrap_or_else(|| Utc::now().date_naive())
}

/// A GraphQL object made from a record on a day, belonging to a level.
pub trait Wrap<M>: Sized {
    fn wrap(rec: Arc<M>, day: Day, level: Arc<Level>) -> Self;
}

/// Objects resolved side by side at one level of a query (a root list, or every child that
/// one edge of the level above produced). Each edge of a level is loaded once, for all of its
/// objects, in one `load_many` through the DataLoader; the links are kept by id, and the typed
/// edge (`EdgeDef<C, P>`) says which table the ids belong to.
pub struct Level {
    ids: Vec<i32>,
    day: Day,
    memo: Mutex<HashMap<(Edge, bool), Memo>>,
}

/// The memoised load of one edge of a level.
type Memo = Arc<OnceCell<Arc<Links>>>;

/// One edge of a level: each object's linked ids (in list order), and the level they form.
struct Links {
    of: HashMap<i32, Vec<i32>>,
    next: Arc<Level>,
}

impl std::fmt::Debug for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Level({} ids on {})", self.ids.len(), self.day)
    }
}

impl Level {
    pub fn new(ids: Vec<i32>, day: Day) -> Arc<Self> {
        Arc::new(Self {
            ids,
            day,
            memo: Mutex::new(HashMap::default()),
        })
    }

    /// Runs `init` once per edge and direction for the level; later callers share it.
    async fn links<F>(&self, key: (Edge, bool), init: F) -> async_graphql::Result<Arc<Links>>
    where
        F: std::future::Future<Output = async_graphql::Result<Links>>,
    {
        let cell = {
            let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
            memo.entry(key).or_default().clone()
        };
        Ok(cell
            .get_or_try_init(|| async { init.await.map(Arc::new) })
            .await?
            .clone())
    }
}

/// Wraps records of one kind, all on one day, as one level.
pub fn on_day<M: Kind, T: Wrap<M>>(list: impl IntoIterator<Item = Arc<M>>, day: Day) -> Vec<T> {
    let list: Vec<Arc<M>> = list.into_iter().collect();
    let level = Level::new(list.iter().map(|m| m.id()).collect(), day);
    list.into_iter()
        .map(|m| T::wrap(m, day, level.clone()))
        .collect()
}

/// Wraps one record on a day.
pub fn one_on_day<M: Kind, T: Wrap<M>>(rec: Arc<M>, day: Day) -> T {
    let level = Level::new(vec![rec.id()], day);
    T::wrap(rec, day, level)
}

const UP: bool = true;
const DOWN: bool = false;

/// The parent of `child` (an object of `level`) on a typed edge.
pub async fn up<C: Kind, P: Kind, T: Wrap<P>>(
    ctx: &Context<'_>,
    level: &Arc<Level>,
    e: EdgeDef<C, P>,
    child: i32,
) -> async_graphql::Result<Option<T>> {
    let day = level.day;
    let s = snapshot(ctx).await?;
    // A mutation's report shows the parents the call leaves (even in a dry run).
    if let Some(reported) = ctx
        .data_opt::<ReportedParents>()
        .and_then(|r| r.get(e.edge, child))
    {
        return Ok(reported
            .and_then(|p| P::table(s).get(p))
            .map(|r| one_on_day(r.version_on(day).clone(), day)));
    }
    let links = level
        .links((e.edge, UP), async {
            let keys = level.ids.iter().map(|&child| ParentOf {
                edge: e.edge,
                child,
                day,
            });
            let found = loader(ctx)?.load_many(keys).await?;
            let table = P::table(s);
            let of: HashMap<i32, Vec<i32>> = found
                .into_iter()
                .filter(|(_, p)| table.get(*p).is_some_and(|r| r.exists_on(day)))
                .map(|(k, p)| (k.child, vec![p]))
                .collect();
            let mut ids: Vec<i32> = of.values().flatten().copied().collect();
            ids.sort_unstable();
            ids.dedup();
            Ok(Links {
                of,
                next: Level::new(ids, day),
            })
        })
        .await?;
    let Some(&parent) = links.of.get(&child).and_then(|p| p.first()) else {
        return Ok(None);
    };
    Ok(P::table(s)
        .get(parent)
        .and_then(|r| r.on(day))
        .map(|m| T::wrap(m.clone(), day, links.next.clone())))
}

/// The children of `parent` (an object of `level`) on a typed edge, in list order.
pub async fn down<C: Kind, P: Kind, T: Wrap<C>>(
    ctx: &Context<'_>,
    level: &Arc<Level>,
    e: EdgeDef<C, P>,
    parent: i32,
) -> async_graphql::Result<Vec<T>> {
    let day = level.day;
    let s = snapshot(ctx).await?;
    let links = level
        .links((e.edge, DOWN), async {
            let keys = level.ids.iter().map(|&parent| ChildrenOf {
                edge: e.edge,
                parent,
                day,
            });
            let found = loader(ctx)?.load_many(keys).await?;
            let table = C::table(s);
            let mut all = Vec::new();
            let of: HashMap<i32, Vec<i32>> = found
                .into_iter()
                .map(|(k, ids)| {
                    let mut list: Vec<&Arc<C>> = ids
                        .iter()
                        .filter_map(|id| table.get(*id)?.on(day))
                        .collect();
                    list.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                    list.dedup_by_key(|m| m.id());
                    let ids: Vec<i32> = list.iter().map(|m| m.id()).collect();
                    all.extend(ids.iter().copied());
                    (k.parent, ids)
                })
                .collect();
            all.sort_unstable();
            all.dedup();
            Ok(Links {
                of,
                next: Level::new(all, day),
            })
        })
        .await?;
    let table = C::table(s);
    Ok(links
        .of
        .get(&parent)
        .into_iter()
        .flatten()
        .filter_map(|id| table.get(*id)?.on(day))
        .map(|m| T::wrap(m.clone(), day, links.next.clone()))
        .collect())
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

/// The DataLoader's spawner: runs a batch in place. A batch reads the pinned snapshot and
/// never waits, so the level that asked gets its answer without yielding, and its sibling
/// objects find the level's edge loaded instead of queueing on it. Anything that does wait
/// (the first pin of a request builds the snapshot) goes on as a task.
fn run_inline(mut task: futures::future::BoxFuture<'static, ()>) {
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    if task.as_mut().poll(&mut cx).is_pending() {
        tokio::spawn(task);
    }
}

/// Gives a request its snapshot pin (unless the HTTP layer pinned one already), its "today",
/// its own DataLoader over the pin, and the parents a mutation's report shows.
pub fn per_request(mut request: Request, store: &Arc<SnapshotStore>) -> Request {
    let pinned = request
        .data
        .get(&std::any::TypeId::of::<Arc<Pinned>>())
        .and_then(|p| p.downcast_ref::<Arc<Pinned>>())
        .cloned();
    let pinned = match pinned {
        Some(p) => p,
        None => {
            let p = Pinned::lazy(store.clone());
            request = request.data(p.clone());
            p
        }
    };
    if request.data.get(&std::any::TypeId::of::<Today>()).is_none() {
        request = request.data(Today(Utc::now().date_naive()));
    }
    // A batch that starts at once never waits for the loader's delay.
    let loader =
        DataLoader::new(SnapshotLoader { pinned }, run_inline).max_batch_size(START_AT_ONCE);
    request.data(loader).data(ReportedParents::default())
}
